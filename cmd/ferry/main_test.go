package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/store/storetest"
)

// The real binary, built once per test run.
func buildFerry(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ferry")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type ferryCmd struct {
	t   *testing.T
	bin string
	dir string
	env []string
}

func (f *ferryCmd) run(stdin string, args ...string) (string, int) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.bin, args...)
	cmd.Dir = f.dir
	cmd.Env = childEnv(f.env...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatal(err)
	}
	return string(out), code
}

func (f *ferryCmd) ok(stdin string, args ...string) string {
	f.t.Helper()
	out, code := f.run(stdin, args...)
	if code != 0 {
		f.t.Fatalf("ferry %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// childEnv is the environment of a child `ferry`: this process's, without
// any FERRY_* setting of the developer's shell (a database URL, a data dir,
// a listener address), plus settings.
func childEnv(settings ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FERRY_") {
			env = append(env, kv)
		}
	}
	return append(env, settings...)
}

// The README's first command on a fresh folder, then the CLI, then a real
// FTP client, then SIGTERM: on SQLite and on PostgreSQL.
func TestFerryBinary(t *testing.T) {
	bin := buildFerry(t)
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dir := t.TempDir()
			f := &ferryCmd{t: t, bin: bin, dir: dir}
			if b.Name == "postgres" {
				url, _ := b.Open(t)
				f.env = append(f.env, "FERRY_DATABASE_URL="+url)
			}
			out := f.ok("", "partner", "create", "acme", "--contact", "ops@acme.example", "--name", "ACME Corp")
			if !strings.Contains(out, "created partner acme") {
				t.Fatalf("partner create: %s", out)
			}
			out = f.ok("s3cret-password\n", "account", "create", "--partner", "acme", "alice", "--password-stdin")
			if !strings.Contains(out, "created account alice") {
				t.Fatalf("account create: %s", out)
			}
			out = f.ok("", "account", "create", "--partner", "acme", "robot", "--perms", "list,download")
			if !strings.Contains(out, "generated password (shown once): ") {
				t.Fatalf("generated password not shown: %s", out)
			}
			if out := f.ok("", "partner", "list"); !strings.Contains(out, "ops@acme.example") {
				t.Fatalf("partner list: %s", out)
			}
			// partner set changes only the flags given.
			f.ok("", "partner", "set", "acme", "--quota-bytes", "5000000", "--contact", "new@acme.example", "--tls-required=false")
			if out := f.ok("", "partner", "show", "acme"); !strings.Contains(out, "new@acme.example") ||
				strings.Contains(out, "ops@acme.example") || !strings.Contains(out, "5000000 bytes") || !strings.Contains(out, "ACME Corp") {
				t.Fatalf("partner show after set: %s", out)
			}
			// The EBCDIC code page of FTP TYPE E (issue 14).
			f.ok("", "partner", "set", "acme", "--ebcdic-code-page", "IBM-037")
			if out := f.ok("", "partner", "show", "acme"); !strings.Contains(out, "EBCDIC code page: IBM-037") ||
				!strings.Contains(out, "5000000 bytes") {
				t.Fatalf("partner show after --ebcdic-code-page: %s", out)
			}
			if out, code := f.run("", "partner", "set", "acme", "--ebcdic-code-page", "IBM-500"); code != 2 || !strings.Contains(out, "ebcdic_code_page") {
				t.Fatalf("bad code page: exit %d %s", code, out)
			}
			if out, code := f.run("", "partner", "set", "acme", "--quota-bytes", "-1"); code != 2 || !strings.Contains(out, "quota") {
				t.Fatalf("bad partner set: exit %d %s", code, out)
			}
			if out, code := f.run("", "partner", "create", "acme"); code == 0 || !strings.Contains(out, "already exists") {
				t.Fatalf("duplicate partner: exit %d %s", code, out)
			}
			if out, code := f.run("", "partner", "create", "Not A Slug"); code != 2 || !strings.Contains(out, "slug") {
				t.Fatalf("bad slug: exit %d %s", code, out)
			}
			if out, code := f.run("", "serve", "--ftp-passive-ports", "9-1"); code != 2 || !strings.Contains(out, "FERRY_FTP_PASSIVE_PORTS") && !strings.Contains(out, "--ftp-passive-ports") {
				t.Fatalf("bad config: exit %d %s", code, out)
			}

			n := newNode(t, b.Name, bin, dir, f.env...)
			n.start()
			n.waitHealthy()
			c, err := ftp.Dial(n.ftp, ftp.DialWithTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Login("alice", "s3cret-password"); err != nil {
				t.Fatalf("login: %v", err)
			}
			if err := c.Stor("hello.txt", strings.NewReader("hello ferry")); err != nil {
				t.Fatal(err)
			}
			if data, err := os.ReadFile(filepath.Join(dir, "data", "files", "acme", "hello.txt")); err != nil || string(data) != "hello ferry" {
				t.Fatalf("file on disk: %q %v", data, err)
			}
			_ = c.Quit()
			for _, p := range []string{"data/tls/cert.pem", "data/tls/key.pem"} {
				if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
					t.Errorf("self-signed %s not generated: %v", p, err)
				}
			}
			if b.Name == "sqlite" {
				if _, err := os.Stat(filepath.Join(dir, "data", "ferry.db")); err != nil {
					t.Errorf("SQLite database not at data/ferry.db: %v", err)
				}
			}
			if err := n.stop(); err != nil {
				t.Fatalf("ferry exited with %v", err)
			}
			// A graceful stop is no error.
			if strings.Contains(n.logs(), "level=ERROR") {
				t.Errorf("errors logged by a run with a clean stop:\n%s", n.logs())
			}
			// The same database answers the CLI after the server stopped.
			if out := f.ok("", "account", "list", "--partner", "acme"); !strings.Contains(out, "alice") || strings.Contains(out, "alice  true  false  /  list,download,upload,overwrite,delete,rename,mkdir  never") {
				t.Fatalf("account list after login: %s", out)
			}
		})
	}
}
