package partners_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

func newService(t *testing.T, s *store.Store) *partners.Service {
	return &partners.Service{Store: s, FilesDir: filepath.Join(t.TempDir(), "files"),
		Hash: password.Params{Memory: 1024, Time: 1, Threads: 1}}
}

func TestValidation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
		ctx := context.Background()
		_, err := svc.CreatePartner(ctx, partners.PartnerInput{
			Slug: "Bad Slug", Contacts: []string{"not-an-address", "Ops <ops@x.example>", "a@b.example\r\nBcc: x@y"},
			QuotaBytes: -1, AllowedCIDRs: []string{"10.0.0.0/33"},
		})
		var ve *partners.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("got %v, want a ValidationError", err)
		}
		fields := map[string]bool{}
		for _, f := range ve.Fields {
			fields[f.Field] = true
		}
		for _, f := range []string{"slug", "contacts[0]", "contacts[1]", "contacts[2]", "quota_bytes", "allowed_cidrs[0]"} {
			if !fields[f] {
				t.Errorf("no error for %s in %v", f, ve.Fields)
			}
		}
		p, err := svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Contacts: []string{"ops@acme.example"},
			AllowedCIDRs: []string{"192.0.2.7", "2001:db8::/32"}, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != "acme" || p.AllowedCIDRs != "192.0.2.7/32,2001:db8::/32" {
			t.Fatalf("normalised partner: %+v", p)
		}
		if _, err := os.Stat(svc.PartnerDir("acme")); err != nil {
			t.Fatalf("partner folder: %v", err)
		}
		if _, err := svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate partner: %v", err)
		}
		for _, in := range []partners.AccountInput{
			{Partner: "acme", Username: "-bad", Password: "longenough"},
			{Partner: "acme", Username: "short", Password: "short"},
			{Partner: "acme", Username: "perm", Password: "longenough", Permissions: "fly"},
			{Partner: "acme", Username: "home", Password: "longenough", HomeDir: "a\\b"},
		} {
			if _, _, err := svc.CreateAccount(ctx, in); !errors.As(err, &ve) {
				t.Errorf("%+v: got %v, want a ValidationError", in, err)
			}
		}
		if _, _, err := svc.CreateAccount(ctx, partners.AccountInput{Partner: "nope", Username: "x", Password: "longenough"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown partner: %v", err)
		}
		a, gen, err := svc.CreateAccount(ctx, partners.AccountInput{Partner: "acme", Username: "alice", HomeDir: "../in/./box"})
		if err != nil {
			t.Fatal(err)
		}
		if len(gen) != 20 || a.HomeDir != "/in/box" || a.PasswordHash == gen {
			t.Fatalf("generated %q, account %+v", gen, a)
		}
		if _, err := os.Stat(filepath.Join(svc.PartnerDir("acme"), "in", "box")); err != nil {
			t.Fatalf("home folder: %v", err)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
		ctx := context.Background()
		local := netip.MustParseAddr("127.0.0.1")
		if _, err := svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Enabled: true, AllowedCIDRs: []string{"127.0.0.0/8"}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.CreateAccount(ctx, partners.AccountInput{Partner: "acme", Username: "alice", Password: "first password",
			Permissions: "list,download"}); err != nil {
			t.Fatal(err)
		}
		l, err := svc.Authenticate(ctx, "alice", "first password", local)
		if err != nil {
			t.Fatal(err)
		}
		if l.PartnerSlug != "acme" || l.Perms.String() != "list,download" || l.HomeDir != "/" {
			t.Fatalf("login %+v", l)
		}
		// Cached: still correct, and a wrong password still fails.
		if _, err := svc.Authenticate(ctx, "alice", "first password", local); err != nil {
			t.Fatal(err)
		}
		fails := []struct {
			user, pw string
			from     netip.Addr
		}{
			{"alice", "wrong", local}, {"nobody", "first password", local},
			{"alice", "first password", netip.MustParseAddr("192.0.2.1")},
		}
		for _, f := range fails {
			if _, err := svc.Authenticate(ctx, f.user, f.pw, f.from); !errors.Is(err, partners.ErrAuthFailed) {
				t.Errorf("%s/%s from %s: %v", f.user, f.pw, f.from, err)
			}
		}
		// A password change takes effect at once, cache or not.
		if _, err := svc.SetPassword(ctx, "alice", "second password"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, "alice", "first password", local); !errors.Is(err, partners.ErrAuthFailed) {
			t.Fatalf("old password still works: %v", err)
		}
		if _, err := svc.Authenticate(ctx, "alice", "second password", local); err != nil {
			t.Fatal(err)
		}
		// Disabling the account or the partner stops logins, cached or not.
		if _, err := svc.SetAccountEnabled(ctx, "alice", false); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, "alice", "second password", local); !errors.Is(err, partners.ErrAuthFailed) {
			t.Fatalf("disabled account logs in: %v", err)
		}
		if _, err := svc.SetAccountEnabled(ctx, "alice", true); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetPartnerEnabled(ctx, "acme", false); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, "alice", "second password", local); !errors.Is(err, partners.ErrAuthFailed) {
			t.Fatalf("account of a disabled partner logs in: %v", err)
		}
	})
}

func TestDeletePartnerNeedsPurgeWhenItHasFiles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
		ctx := context.Background()
		if _, err := svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Enabled: true}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.CreateAccount(ctx, partners.AccountInput{Partner: "acme", Username: "alice", Password: "long enough", HomeDir: "/in"}); err != nil {
			t.Fatal(err)
		}
		// Empty home folders do not count as files.
		if _, err := svc.CreatePartner(ctx, partners.PartnerInput{Slug: "empty", Enabled: true}); err != nil {
			t.Fatal(err)
		}
		if err := svc.DeletePartner(ctx, "empty", false); err != nil {
			t.Fatalf("delete empty partner: %v", err)
		}
		if err := os.WriteFile(filepath.Join(svc.PartnerDir("acme"), "in", "f.txt"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := svc.DeletePartner(ctx, "acme", false); !errors.Is(err, partners.ErrHasFiles) {
			t.Fatalf("delete with files: %v", err)
		}
		if err := svc.DeletePartner(ctx, "acme", true); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(svc.PartnerDir("acme")); !os.IsNotExist(err) {
			t.Fatalf("folder left after purge: %v", err)
		}
		if _, err := s.AccountByUsername(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("account left after purge: %v", err)
		}
	})
}

func TestAddrAllowed(t *testing.T) {
	for _, tc := range []struct {
		cidrs, addr string
		want        bool
	}{
		{"", "198.51.100.1", true},
		{"198.51.100.0/24", "198.51.100.9", true},
		{"198.51.100.0/24", "198.51.101.9", false},
		{"198.51.100.0/24,2001:db8::/32", "2001:db8::1", true},
		{"198.51.100.0/24", "::ffff:198.51.100.3", true},
	} {
		if got := partners.AddrAllowed(tc.cidrs, netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("AddrAllowed(%q, %s) = %v", tc.cidrs, tc.addr, got)
		}
	}
}

// A burst of concurrent logins, good and bad, all get the right answer
// with password checks limited to one at a time.
func TestConcurrentLoginsShareBoundedChecks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
		svc.MaxConcurrentVerify = 1
		ctx := context.Background()
		if _, err := svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Enabled: true}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.CreateAccount(ctx, partners.AccountInput{Partner: "acme", Username: "alice", Password: "right password"}); err != nil {
			t.Fatal(err)
		}
		local := netip.MustParseAddr("127.0.0.1")
		type result struct {
			good bool
			err  error
		}
		results := make(chan result, 48)
		for i := 0; i < 48; i++ {
			good := i%3 != 0
			go func() {
				pw, user := "right password", "alice"
				switch {
				case !good && i%2 == 0:
					pw = "wrong password"
				case !good:
					user = "nobody"
				}
				_, err := svc.Authenticate(ctx, user, pw, local)
				results <- result{good, err}
			}()
		}
		for i := 0; i < 48; i++ {
			r := <-results
			if r.good && r.err != nil {
				t.Errorf("good login failed: %v", r.err)
			}
			if !r.good && !errors.Is(r.err, partners.ErrAuthFailed) {
				t.Errorf("bad login: %v", r.err)
			}
		}
		// A login that cannot get a check slot before its deadline gives up.
		dead, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := svc.Authenticate(dead, "alice", "another wrong one", local); err == nil || errors.Is(err, partners.ErrAuthFailed) {
			t.Errorf("canceled login: %v", err)
		}
	})
}

func TestCleanHomeDir(t *testing.T) {
	for in, want := range map[string]string{"": "/", "in": "/in", "../in/./box": "/in/box", "/a//b/": "/a/b"} {
		if got, err := partners.CleanHomeDir(in); err != nil || got != want {
			t.Errorf("CleanHomeDir(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"a\x00b", "a\\b", "x\ny", "/.ferry-partial", ".ferry-partial/x", "/a/../.ferry-partial"} {
		if _, err := partners.CleanHomeDir(bad); err == nil {
			t.Errorf("CleanHomeDir(%q) accepted", bad)
		}
	}
}

// ChecksDone runs when the last password check running or waiting ends,
// whichever way it ended: `ferry serve` collects the checks' memory there.
func TestChecksDoneAfterTheLastCheck(t *testing.T) {
	var done atomic.Int64
	svc := &partners.Service{Hash: password.Params{Memory: 1024, Time: 1, Threads: 1}, MaxConcurrentVerify: 1,
		ChecksDone: func() { done.Add(1) }}
	ctx := context.Background()
	hash, err := svc.HashPassword(ctx, "right password")
	if err != nil {
		t.Fatal(err)
	}
	if n := done.Load(); n != 1 {
		t.Fatalf("ChecksDone ran %d times after hashing a password, want 1", n)
	}
	if err := svc.VerifyPassword(ctx, "right password", hash); err != nil {
		t.Fatal(err)
	}
	if n := done.Load(); n != 2 {
		t.Fatalf("ChecksDone ran %d times after hashing and one check, want 2", n)
	}

	// A burst: each check runs alone (one slot); ChecksDone runs at most
	// once per check and at least once, after the last.
	const burst = 16
	var wg sync.WaitGroup
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := svc.VerifyPassword(ctx, fmt.Sprintf("wrong %d", i), hash); !errors.Is(err, password.ErrMismatch) {
				t.Errorf("wrong password: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := done.Load() - 2; n < 1 || n > burst {
		t.Fatalf("ChecksDone ran %d times for a burst of %d checks", n, burst)
	}

	// Checks that give up while waiting for a slot are counted out too:
	// were one left counted, ChecksDone would never run again.
	dead, cancel := context.WithCancel(ctx)
	cancel()
	for range 32 {
		_ = svc.VerifyPassword(dead, "given up", hash)
	}
	before := done.Load()
	if err := svc.VerifyPassword(ctx, "right password", hash); err != nil {
		t.Fatal(err)
	}
	if done.Load() == before {
		t.Fatal("ChecksDone did not run after a check once others had given up")
	}
}
