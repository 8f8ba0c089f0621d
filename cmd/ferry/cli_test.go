package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/internal/tlsutil"
	"github.com/ferryhq/ferry/store/storetest"
)

// cli runs ferry commands in process on one data dir (and database).
type cli struct {
	t        *testing.T
	settings []string
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, settings: []string{"--data-dir", filepath.Join(t.TempDir(), "data")}}
}

func (c *cli) run(stdin string, args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	a := &app{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut}
	err := a.run(context.Background(), append(args, c.settings...))
	if err != nil {
		code = exitCode(err)
		if !errors.Is(err, flag.ErrHelp) {
			errOut.WriteString("ferry: " + err.Error() + "\n")
		}
	}
	return out.String(), errOut.String(), code
}

func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run("", args...)
	if code != 0 {
		c.t.Fatalf("ferry %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// A flag another subcommand owns is refused with exit 2 and its name,
// instead of being ignored.
func TestSubcommandsRefuseOtherFlags(t *testing.T) {
	c := newCLI(t)
	c.ok("partner", "create", "acme")
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"partner", "list", "--purge", "--quota-bytes", "5"}, "-purge"},
		{[]string{"partner", "show", "acme", "--quota-bytes", "5"}, "-quota-bytes"},
		{[]string{"partner", "create", "beta", "--purge"}, "-purge"},
		{[]string{"partner", "enable", "acme", "--contact", "a@b.example"}, "-contact"},
		{[]string{"account", "list", "--partner", "acme", "--disabled"}, "-disabled"},
		{[]string{"account", "enable", "alice", "--perms", "list"}, "-perms"},
		{[]string{"account", "passwd", "alice", "--home", "/x"}, "-home"},
		{[]string{"migrate", "--purge"}, "-purge"},
		{[]string{"token", "list", "--role", "admin"}, "-role"},
		{[]string{"token", "revoke", "x", "--name", "n"}, "-name"},
		{[]string{"admin", "list", "--password-stdin"}, "-password-stdin"},
		{[]string{"admin", "passwd", "bob", "--role", "admin"}, "-role"},
	} {
		out, errOut, code := c.run("", tc.args...)
		if code != 2 || !strings.Contains(errOut, "not defined: "+tc.flag) ||
			!strings.Contains(errOut, "ferry: "+strings.Join(tc.args[:2], " ")+": ") && !strings.Contains(errOut, "ferry: "+tc.args[0]+": ") {
			t.Errorf("ferry %s: exit %d, want 2 naming %s\n%s%s", strings.Join(tc.args, " "), code, tc.flag, out, errOut)
		}
	}
	// Their own flags still work, before and after the arguments.
	c.ok("partner", "set", "acme", "--quota-bytes", "5000")
	c.ok("account", "create", "--partner", "acme", "alice", "--perms", "list,download")
	c.ok("account", "list", "--partner", "acme")
	c.ok("partner", "delete", "--purge", "acme")
}

// ferry --help lists every subcommand with its summary, and exits 0.
func TestHelpListsSubcommands(t *testing.T) {
	c := newCLI(t)
	c.settings = nil
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, errOut, code := c.run("", args...)
		if code != 0 {
			t.Fatalf("ferry %s: exit %d\n%s", args[0], code, errOut)
		}
		for _, cmd := range commands {
			if !strings.Contains(out, "  "+cmd.name+strings.Repeat(" ", 13-len(cmd.name))+cmd.summary+"\n") {
				t.Errorf("ferry %s does not list %q with its summary:\n%s", args[0], cmd.name, out)
			}
		}
	}
	// Every listed command exists: --help of each is answered, not
	// "unknown command".
	// The data dir is an empty folder: a --help that opened the database
	// would create it.
	dataDir := filepath.Join(t.TempDir(), "data")
	c.settings = []string{"--data-dir", dataDir}
	for _, cmd := range commands {
		out, errOut, code := c.run("", cmd.name, "--help")
		if code != 0 || strings.Contains(errOut, "unknown command") || out+errOut == "" {
			t.Errorf("ferry %s --help: exit %d\n%s%s", cmd.name, code, out, errOut)
		}
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a --help created the data dir: %v", err)
	}
	c.settings = nil
	// `ferry serve --help` still lists the settings flags.
	if _, errOut, code := c.run("", "serve", "--help"); code != 0 || !strings.Contains(errOut, "-ftp-addr") {
		t.Errorf("ferry serve --help: exit %d\n%s", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	c := newCLI(t)
	c.settings = nil
	out := c.ok("version")
	if !strings.HasPrefix(out, "ferry ") || !strings.Contains(out, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) {
		t.Fatalf("ferry version:\n%s", out)
	}
	if _, errOut, code := c.run("", "version", "extra"); code != 2 {
		t.Fatalf("ferry version extra: exit %d %s", code, errOut)
	}

	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/ferryhq/ferry/cmd/ferry", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	for _, tc := range []struct {
		ld   string
		info *debug.BuildInfo
		want []string
	}{
		// go install ...@v1.4.0 from a checkout: module version and revision.
		{"dev", stamped, []string{"ferry v1.4.0\n", "revision 0123abcd (2026-12-01T10:00:00Z) with uncommitted changes\n", "go1.26.8 "}},
		// A release build's -X main.version wins.
		{"2.0.0", stamped, []string{"ferry 2.0.0\n"}},
		// go run from a folder without VCS stamping.
		{"dev", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, []string{"ferry dev\ngo1.26.8 "}},
		{"dev", nil, []string{"ferry dev\n" + runtime.Version()}},
	} {
		got := versionText(tc.ld, tc.info)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("versionText(%q, ...) = %q, want it to contain %q", tc.ld, got, w)
			}
		}
	}
}

// ferry migrate says what it applied on an empty database, and that there
// was nothing to do the second time.
func TestMigrateSaysWhatItApplied(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			c := newCLI(t)
			if b.Name == "postgres" {
				c.settings = append(c.settings, "--database-url", storetest.NewPostgresDB(t))
			}
			entries, err := os.ReadDir(filepath.Join("..", "..", "migrations", "sqlite"))
			if err != nil {
				t.Fatal(err)
			}
			// The schema version is the highest migration's number (a
			// branch may ship a later one before an earlier one is merged).
			n := 0
			for _, e := range entries {
				if v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0]); err == nil {
					n = max(n, v)
				}
			}
			out := c.ok("migrate")
			if !strings.Contains(out, "applied ") || !strings.Contains(out, "migrations (1 to ") ||
				!strings.Contains(out, "to the "+b.Name) || !strings.HasSuffix(out, "version "+strconv.Itoa(n)+"\n") {
				t.Fatalf("first migrate (%d migrations shipped): %q", n, out)
			}
			if out := c.ok("migrate"); out != b.Name+" database schema already up to date (version "+strconv.Itoa(n)+")\n" {
				t.Fatalf("second migrate: %q", out)
			}
		})
	}
}

// partner show prints usage beside each quota; account create --disabled
// says the account cannot log in.
func TestPartnerShowUsageAndDisabledAccount(t *testing.T) {
	c := newCLI(t)
	c.ok("partner", "create", "acme", "--quota-bytes", "5000", "--quota-files", "10")
	dataDir := c.settings[1]
	if err := os.WriteFile(filepath.Join(dataDir, "files", "acme", "report.csv"), []byte("1234567"), 0o640); err != nil {
		t.Fatal(err)
	}
	c.ok("quota", "recalc", "acme")
	out := c.ok("partner", "show", "acme")
	if !strings.Contains(out, "files used / quota: 7 / 5000 bytes, 1 / 10 files\n") ||
		!strings.Contains(out, "mailbox used / quota: 0 / unlimited bytes\n") {
		t.Fatalf("partner show:\n%s", out)
	}

	out = c.ok("account", "create", "--partner", "acme", "alice", "--disabled")
	if !strings.Contains(out, "created account alice") || !strings.Contains(out, "the account is disabled") {
		t.Fatalf("account create --disabled:\n%s", out)
	}
	if out := c.ok("account", "create", "--partner", "acme", "bob"); strings.Contains(out, "disabled") {
		t.Fatalf("account create (enabled) mentions disabled:\n%s", out)
	}
}

// The self-signed certificate's SHA-256 fingerprint, which FileZilla asks
// the user to compare, is in the log at start and in `ferry config`.
func TestCertificateFingerprintShown(t *testing.T) {
	c := newCLI(t)
	if out := c.ok("config"); !strings.Contains(out, "# TLS certificate "+filepath.Join(c.settings[1], "tls", "cert.pem")+": not created yet") {
		t.Fatalf("ferry config before the first start:\n%s", out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log testenv.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &log}
	done := make(chan error, 1)
	go func() {
		done <- a.run(ctx, append([]string{"serve", "--ftp-addr=", "--smtp-addr=", "--imap-addr=", "--pop3-addr=",
			"--http-addr", "127.0.0.1:0"}, c.settings...))
	}()
	testenv.Eventually(t, 30*time.Second, func() error {
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, log.String())
		default:
		}
		if !strings.Contains(log.String(), "msg=listening") {
			return errors.New("not listening yet")
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, log.String())
	}

	fp, err := tlsutil.FileFingerprint(filepath.Join(c.settings[1], "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`level=INFO msg="TLS certificate" file=\S+cert.pem sha256=` + fp + ` self_signed=true`).MatchString(log.String()) {
		t.Fatalf("no INFO line with the fingerprint %s:\n%s", fp, log.String())
	}
	if out := c.ok("config"); !strings.Contains(out, "# TLS certificate "+filepath.Join(c.settings[1], "tls", "cert.pem")+", SHA-256 fingerprint "+fp+"\n") {
		t.Fatalf("ferry config after the start:\n%s", out)
	}
}
