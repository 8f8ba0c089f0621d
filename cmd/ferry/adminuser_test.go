package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/store"
)

// ferry admin create / list / passwd / disable / enable / delete, in
// process, checked against the database.
func TestAdminUserCommand(t *testing.T) {
	ctx := context.Background()
	dataDir := filepath.Join(t.TempDir(), "data")
	run := func(stdin string, args ...string) (stdout, stderr string, err error) {
		var out, errOut bytes.Buffer
		a := &app{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut}
		err = a.run(ctx, append(args, "--data-dir", dataDir))
		return out.String(), errOut.String(), err
	}
	usage := func(err error) bool { return errors.As(err, new(*usageError)) }

	if _, _, err := run("", "admin", "create", "alice"); !usage(err) {
		t.Fatalf("create without --role: %v", err)
	}
	if _, _, err := run("", "admin", "create", "alice", "--role", "root"); !usage(err) {
		t.Fatalf("create with a bad role: %v", err)
	}
	if _, _, err := run("", "admin", "create", "al ice", "--role", "admin"); !usage(err) {
		t.Fatalf("create with a space: %v", err)
	}
	if _, _, err := run("short\n", "admin", "create", "alice", "--role", "admin", "--password-stdin"); !usage(err) {
		t.Fatalf("a short password: %v", err)
	}
	out, info, err := run("correct horse battery\n", "admin", "create", "alice", "--role", "admin", "--password-stdin")
	if err != nil || !strings.Contains(out, "created admin user alice") || strings.Contains(out, "generated") {
		t.Fatalf("create alice: %v\n%s%s", err, out, info)
	}
	if _, _, err := run("another password\n", "admin", "create", "alice", "--role", "auditor", "--password-stdin"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("create alice twice: %v", err)
	}
	// Not a terminal and no --password-stdin: one is generated, shown once.
	out, _, err = run("", "admin", "create", "bob", "--role", "auditor")
	m := regexp.MustCompile(`generated password \(shown once\): (\S+)`).FindStringSubmatch(out)
	if err != nil || m == nil || len(m[1]) != 20 {
		t.Fatalf("create bob: %v\n%s", err, out)
	}
	bobPW := m[1]

	st, err := store.Open(ctx, "", store.Options{SQLitePath: filepath.Join(dataDir, "ferry.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	alice, err := st.AdminUserByUsername(ctx, "alice")
	if err != nil || alice.Role != "admin" || alice.Disabled || password.Verify("correct horse battery", alice.PasswordHash) != nil {
		t.Fatalf("stored alice: %+v %v", alice, err)
	}
	bob, err := st.AdminUserByUsername(ctx, "bob")
	if err != nil || bob.Role != "auditor" || password.Verify(bobPW, bob.PasswordHash) != nil || strings.Contains(bob.PasswordHash, bobPW) {
		t.Fatalf("stored bob: %+v %v", bob, err)
	}

	if out, _, err = run("new password 2\n", "admin", "passwd", "alice", "--password-stdin"); err != nil || !strings.Contains(out, "password of alice changed") {
		t.Fatalf("passwd: %v\n%s", err, out)
	}
	if a2, _ := st.AdminUserByUsername(ctx, "alice"); password.Verify("new password 2", a2.PasswordHash) != nil || a2.PasswordHash == alice.PasswordHash {
		t.Fatal("passwd did not change the hash")
	}
	if _, _, err := run("x password\n", "admin", "passwd", "carol", "--password-stdin"); err == nil || !strings.Contains(err.Error(), `no admin user "carol"`) {
		t.Fatalf("passwd of an unknown user: %v", err)
	}
	if out, _, err = run("", "admin", "disable", "bob"); err != nil || !strings.Contains(out, "bob disabled") {
		t.Fatalf("disable: %v %s", err, out)
	}
	out, _, err = run("", "admin", "list")
	if err != nil || !regexp.MustCompile(`alice\s+admin\s+true`).MatchString(out) || !regexp.MustCompile(`bob\s+auditor\s+false`).MatchString(out) ||
		strings.Contains(out, "argon2") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, _, err = run("", "admin", "enable", "bob"); err != nil || !strings.Contains(out, "bob enabled") {
		t.Fatalf("enable: %v %s", err, out)
	}
	if b2, _ := st.AdminUserByUsername(ctx, "bob"); b2.Disabled {
		t.Fatal("bob still disabled")
	}
	if out, _, err = run("", "admin", "delete", "bob"); err != nil || !strings.Contains(out, "deleted admin user bob") {
		t.Fatalf("delete: %v %s", err, out)
	}
	if _, _, err := run("", "admin", "delete", "bob"); err == nil {
		t.Fatal("deleted twice")
	}
	if _, _, err := run("", "admin", "frobnicate", "bob"); !usage(err) {
		t.Fatalf("unknown subcommand: %v", err)
	}
}
