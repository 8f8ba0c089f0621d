package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/benchkit"
)

// maddy (github.com/foxcpp/maddy) is the third reference: a Go mail server
// with SMTP and IMAP in one process on SQLite, the closest in shape to
// Ferry. It is not packaged by Debian; mailbench builds it from the Go
// module proxy.
const (
	maddyModule  = "github.com/foxcpp/maddy"
	maddyPkg     = maddyModule + "/cmd/maddy"
	maddyVersion = "v0.8.1"
)

// maddyBinary returns the maddy binary to run: -maddy-bin, else the one
// cached in -maddy-cache, else one built now (and cached). An error means
// maddy is absent from this run; its text is one line for the report.
func maddyBinary(ctx context.Context, o *options) (string, error) {
	if o.maddyBin != "" {
		return filepath.Abs(o.maddyBin)
	}
	bin := filepath.Join(o.maddyCache, "maddy-"+maddyVersion)
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		benchkit.Logf("maddy %s: cached binary %s", maddyVersion, bin)
		return bin, nil
	}
	if err := os.MkdirAll(o.maddyCache, 0o755); err != nil {
		return "", fmt.Errorf("cache folder: %w", err)
	}
	start := time.Now()
	benchkit.Logf("building maddy %s from the Go module proxy (a temporary module; cached as %s)", maddyVersion, bin)
	if err := buildMaddy(ctx, bin); err != nil {
		return "", err
	}
	benchkit.Logf("maddy built in %v", time.Since(start).Round(time.Second))
	return bin, nil
}

// buildMaddy builds maddy in a throw-away module of its own, never in
// Ferry's: `go get -tool maddy/cmd/maddy@version`, then the replace
// directives of maddy's own go.mod (its forks of go-imap, go-smtp and
// libdns/gandi: a dependency's replace directives do not apply, and
// without them the build fails), then go build.
func buildMaddy(ctx context.Context, bin string) error {
	tmp, err := os.MkdirTemp("", "mailbench-maddy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	goCmd := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), "GOWORK=off")
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				out = append(out, ee.Stderr...)
			}
			return out, fmt.Errorf("go %s: %s", strings.Join(args, " "), firstError(out, err))
		}
		return out, nil
	}
	if _, err := goCmd("mod", "init", "mailbench.invalid/maddy"); err != nil {
		return err
	}
	if _, err := goCmd("get", "-tool", maddyPkg+"@"+maddyVersion); err != nil {
		return err
	}
	out, err := goCmd("list", "-m", "-json", maddyModule)
	if err != nil {
		return err
	}
	var mod struct{ GoMod string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.GoMod == "" {
		return fmt.Errorf("go list -m %s: no go.mod (%v)", maddyModule, err)
	}
	if out, err = goCmd("mod", "edit", "-json", mod.GoMod); err != nil {
		return err
	}
	type modVersion struct{ Path, Version string }
	var gomod struct {
		Replace []struct{ Old, New modVersion }
	}
	if err := json.Unmarshal(out, &gomod); err != nil {
		return fmt.Errorf("maddy's go.mod: %w", err)
	}
	at := func(m modVersion) string {
		if m.Version == "" {
			return m.Path
		}
		return m.Path + "@" + m.Version
	}
	for _, r := range gomod.Replace {
		if r.New.Version == "" {
			continue // a local path: only meaningful in maddy's own tree
		}
		if _, err := goCmd("mod", "edit", "-replace", at(r.Old)+"="+at(r.New)); err != nil {
			return err
		}
	}
	if _, err := goCmd("mod", "tidy"); err != nil {
		return err
	}
	part := bin + ".part"
	if _, err := goCmd("build", "-trimpath", "-o", part, maddyPkg); err != nil {
		return err
	}
	return os.Rename(part, bin)
}

// firstError picks the line of a go command's output that says what went
// wrong (not its progress lines), for a one-line report.
func firstError(out []byte, err error) string {
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "go: downloading") ||
			strings.HasPrefix(l, "go: added") || strings.HasPrefix(l, "go: finding") {
			continue
		}
		if len(l) > 300 {
			l = l[:300] + "..."
		}
		return l
	}
	return err.Error()
}

// startMaddy runs maddy with its own config file and state in dir: SMTP
// and IMAP on 127.0.0.1 and free ports, STARTTLS with the run's
// certificate, SQLite (storage.imapsql) for the index and credentials,
// message bodies as files (its default blob store). The accounts are made
// with maddy's own CLI: sink@bench.test (the SMTP target, delivered into
// its INBOX before the 250) and bench@bench.test (IMAP).
func startMaddy(ctx context.Context, bin, dir, certFile, keyFile string) (*server, error) {
	for _, d := range []string{filepath.Join(dir, "state"), filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	smtpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	imapAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`# written by mailbench (cmd/mailbench)
state_dir %[1]s/state
runtime_dir %[1]s/run
hostname mailbench.localdomain
tls file %[2]s %[3]s
log stderr
debug no

auth.pass_table local_authdb {
    table sql_table {
        driver sqlite3
        dsn credentials.db
        table_name passwords
    }
}

storage.imapsql local_mailboxes {
    driver sqlite3
    dsn imapsql.db
}

# No limits block (no rate or concurrency limit), no checks, no DMARC: the
# bench measures the delivery path, as with Postfix.
smtp tcp://%[4]s {
    dmarc no
    default_source {
        destination %[6]s {
            deliver_to &local_mailboxes
        }
        default_destination {
            reject 550 5.1.1 "User doesn't exist"
        }
    }
}

imap tcp://%[5]s {
    auth &local_authdb
    storage &local_mailboxes
}
`, dir, certFile, keyFile, smtpAddr, imapAddr, mailDomain)
	confPath := filepath.Join(dir, "maddy.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	maddyCLI := func(stdin string, args ...string) error {
		cmd := exec.CommandContext(ctx, bin, append([]string{"--config", confPath}, args...)...)
		cmd.Dir, cmd.Stdin = dir, strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("maddy %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	login := benchUser + "@" + mailDomain
	pass := benchkit.RandomPassword("Mb-")
	// creds create reads the password from stdin (bcrypt, its default; the
	// login is not timed).
	if err := maddyCLI(pass, "creds", "create", login); err != nil {
		return nil, err
	}
	for _, acct := range []string{login, sinkBox + "@" + mailDomain} {
		if err := maddyCLI("", "imap-acct", "create", acct); err != nil {
			return nil, err
		}
	}
	s := &server{target: &target{name: nameMaddy, smtpAddr: smtpAddr, imapAddr: imapAddr, user: login, pass: pass}}
	s.cmd = exec.Command(bin, "--config", confPath, "run")
	s.cmd.Dir = dir
	if err := s.start(filepath.Join(dir, "maddy.log"), map[string]string{smtpAddr: "220", imapAddr: "* OK"}); err != nil {
		return nil, err
	}
	benchkit.Logf("maddy %s (config %s) SMTP %s, IMAP %s, pid %d", bin, confPath, smtpAddr, imapAddr, s.pid)
	return s, nil
}
