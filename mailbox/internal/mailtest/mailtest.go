// Package mailtest builds what the mailbox tests share: a store on a real
// database with partners and accounts, a mailbox.Store, a TLS
// configuration, a fake ban guard and helpers to run client programs.
package mailtest

import (
	"context"
	"crypto/tls"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/internal/tlsutil"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// Password of every test account.
const Password = "correct horse battery"

// Domain is the test mail domain.
const Domain = "mail.test"

// Env is a mailbox store with partners "acme" (accounts alice: all
// permissions; dana: no mail permission; tina: TLS required) and "other"
// (bob).
type Env struct {
	DB       *store.Store
	Partners *partners.Service
	Mail     *mailbox.Store
	Logins   *mailbox.Logins
	Guard    *Guard
	TLS      *tls.Config
	Acme     *store.Partner
	Other    *store.Partner
	Dir      string
}

// New builds an Env on backend (the zero Backend is SQLite).
func New(t testing.TB, backend storetest.Backend) *Env {
	t.Helper()
	if backend.Name == "" {
		backend = storetest.Backends()[0]
	}
	db := storetest.Open(t, backend)
	dir := t.TempDir()
	svc := &partners.Service{Store: db, FilesDir: filepath.Join(dir, "files"),
		Hash: password.Params{Memory: 1024, Time: 1, Threads: 1}}
	ctx := context.Background()
	e := &Env{DB: db, Partners: svc, Dir: dir, Guard: &Guard{}}
	for _, slug := range []string{"acme", "other"} {
		p, err := svc.CreatePartner(ctx, partners.PartnerInput{Slug: slug, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		if slug == "acme" {
			e.Acme = p
		} else {
			e.Other = p
		}
	}
	for _, a := range []partners.AccountInput{
		{Partner: "acme", Username: "alice", Password: Password},
		{Partner: "acme", Username: "dana", Password: Password, Permissions: "list,download"},
		{Partner: "acme", Username: "tina", Password: Password, TLSRequired: true},
		{Partner: "other", Username: "bob", Password: Password},
	} {
		if _, _, err := svc.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	conf, _, err := tlsutil.Load("", "", dir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	e.TLS = conf
	e.Mail = &mailbox.Store{DB: db, Dir: filepath.Join(dir, "mail")}
	e.Logins = &mailbox.Logins{Auth: svc, Guard: e.Guard}
	return e
}

// Message returns a small RFC 5322 message with CRLF line endings.
func Message(subject, body string) []byte {
	return []byte("From: Sender <sender@example.org>\r\nTo: acme@" + Domain + "\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\n" +
		body + "\r\n")
}

// Guard is a ban guard that records calls and bans the addresses in Banned.
type Guard struct {
	mu        sync.Mutex
	Banned    map[netip.Addr]bool
	Failures  []string // "protocol user"
	Successes int
}

// Check refuses banned addresses.
func (g *Guard) Check(_ context.Context, ip netip.Addr) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.Banned[ip] {
		return errBanned
	}
	return nil
}

// Failure records a failed login.
func (g *Guard) Failure(_ context.Context, _ netip.Addr, protocol, username string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.Failures = append(g.Failures, protocol+" "+username)
}

// Success records a successful login.
func (g *Guard) Success(context.Context, netip.Addr, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.Successes++
}

// Ban bans ip.
func (g *Guard) Ban(ip string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.Banned == nil {
		g.Banned = map[netip.Addr]bool{}
	}
	g.Banned[netip.MustParseAddr(ip)] = true
}

// FailureList returns the recorded failures.
func (g *Guard) FailureList() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.Failures...)
}

type bannedError struct{}

func (bannedError) Error() string { return "address banned" }

var errBanned = bannedError{}

// Run runs a client program and returns its standard output; it fails the
// test on a non-zero exit.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := RunErr(t, name, args...)
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return out
}

// RunErr runs a client program and returns its combined output.
func RunErr(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "NO_PROXY=*", "no_proxy=*")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Python runs a Python script with arguments and returns its output.
func Python(t testing.TB, script string, args ...string) string {
	t.Helper()
	return Run(t, "python3", append([]string{"-c", script}, args...)...)
}
