package partners_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

func ptr[T any](v T) *T { return &v }

var errStale = errors.New("stale")

func TestUpdatePartner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
		ctx := context.Background()
		p, err := svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Contacts: []string{"a@acme.example"}, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		got, err := svc.UpdatePartner(ctx, "acme", partners.PartnerPatch{
			Name: ptr("ACME"), Contacts: &[]string{"b@acme.example", "a@acme.example"}, QuotaFiles: ptr(int64(9)),
			AllowedCIDRs: &[]string{"203.0.113.9"},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "ACME" || got.QuotaFiles != 9 || got.AllowedCIDRs != "203.0.113.9/32" || len(got.Contacts) != 2 ||
			got.Contacts[0].Email != "a@acme.example" || !got.Enabled || got.Slug != "acme" {
			t.Fatalf("updated: %+v", got)
		}
		_, err = svc.UpdatePartner(ctx, p.ID, partners.PartnerPatch{Slug: ptr("other"), Contacts: &[]string{"x"}, QuotaBytes: ptr(int64(-1))}, nil)
		var ve *partners.ValidationError
		if !errors.As(err, &ve) || len(ve.Fields) != 3 {
			t.Fatalf("invalid patch: %v", err)
		}
		if _, err := svc.UpdatePartner(ctx, "nobody", partners.PartnerPatch{}, nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown partner: %v", err)
		}
		// The check sees the current row and can refuse; nothing is written.
		_, err = svc.UpdatePartner(ctx, "acme", partners.PartnerPatch{Name: ptr("Lost")}, func(cur *store.Partner) error {
			if cur.Name != "ACME" {
				t.Errorf("check saw %+v", cur)
			}
			return errStale
		})
		if !errors.Is(err, errStale) {
			t.Fatalf("refused update: %v", err)
		}
		if cur, _ := svc.Partner(ctx, "acme"); cur.Name != "ACME" {
			t.Fatalf("a refused update wrote: %+v", cur)
		}
	})
}

// Two updates that each check the state they read (If-Match) cannot both
// win: the check runs under the row's lock.
func TestUpdatePartnerCheckIsAtomic(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
		ctx := context.Background()
		if _, err := svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Enabled: true}); err != nil {
			t.Fatal(err)
		}
		p, err := svc.Partner(ctx, "acme") // as stored: PostgreSQL keeps microseconds
		if err != nil {
			t.Fatal(err)
		}
		seen := p.UpdatedAt
		// Each check waits a little for the others to arrive, so that without
		// the lock every writer would read the same version and pass.
		const writers = 6
		var arrived atomic.Int32
		var wg sync.WaitGroup
		results := make(chan error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := svc.UpdatePartner(ctx, "acme", partners.PartnerPatch{Name: ptr("writer " + string(rune('a'+i)))},
					func(cur *store.Partner) error {
						arrived.Add(1)
						for end := time.Now().Add(150 * time.Millisecond); arrived.Load() < writers && time.Now().Before(end); {
							time.Sleep(5 * time.Millisecond)
						}
						if !cur.UpdatedAt.Equal(seen) {
							return errStale
						}
						return nil
					})
				results <- err
			}()
		}
		wg.Wait()
		close(results)
		won := 0
		for err := range results {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, errStale):
				t.Errorf("update: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d updates passed a check of the same version, want 1", won)
		}
	})
}

func TestUpdateAccount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
		ctx := context.Background()
		if _, err := svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Enabled: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreatePartner(ctx, partners.PartnerInput{Slug: "other", Enabled: true}); err != nil {
			t.Fatal(err)
		}
		a, _, err := svc.CreateAccount(ctx, partners.AccountInput{Partner: "acme", Username: "alice", Password: "first password"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.CreateAccount(ctx, partners.AccountInput{Partner: "other", Username: "bob", Password: "first password"}); err != nil {
			t.Fatal(err)
		}
		local := netip.MustParseAddr("127.0.0.1")
		if _, err := svc.Authenticate(ctx, "alice", "first password", local); err != nil {
			t.Fatal(err)
		}

		got, generated, err := svc.UpdateAccount(ctx, a.ID, partners.AccountPatch{GeneratePassword: true, Permissions: &[]string{"download", "list"}, HomeDir: ptr("in")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(generated) < 16 || got.Permissions != "list,download" || got.HomeDir != "/in" {
			t.Fatalf("updated: %+v %q", got, generated)
		}
		// The old password stops working at once, cache or not.
		if _, err := svc.Authenticate(ctx, "alice", "first password", local); !errors.Is(err, partners.ErrAuthFailed) {
			t.Fatalf("old password after rotation: %v", err)
		}
		if _, err := svc.Authenticate(ctx, "alice", generated, local); err != nil {
			t.Fatalf("generated password: %v", err)
		}
		if _, _, err := svc.UpdateAccount(ctx, a.ID, partners.AccountPatch{Enabled: ptr(false)}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, "alice", generated, local); !errors.Is(err, partners.ErrAuthFailed) {
			t.Fatalf("disabled account: %v", err)
		}

		for name, patch := range map[string]partners.AccountPatch{
			"both passwords":  {Password: ptr("a password"), GeneratePassword: true},
			"short password":  {Password: ptr("short")},
			"bad username":    {Username: ptr("-x")},
			"no permissions":  {Permissions: &[]string{}},
			"bad permission":  {Permissions: &[]string{"fly"}},
			"joined names":    {Permissions: &[]string{"list,download"}},
			"bad home folder": {HomeDir: ptr("a\x00b")},
		} {
			var ve *partners.ValidationError
			if _, _, err := svc.UpdateAccount(ctx, a.ID, patch, nil); !errors.As(err, &ve) {
				t.Errorf("%s: %v, want a ValidationError", name, err)
			}
		}
		if _, _, err := svc.UpdateAccount(ctx, a.ID, partners.AccountPatch{Username: ptr("bob")}, nil); !errors.Is(err, store.ErrConflict) {
			t.Errorf("taken username: %v", err)
		}
		if _, _, err := svc.UpdateAccount(ctx, "nope", partners.AccountPatch{}, nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown account: %v", err)
		}
		// Account looks up within a partner only.
		if _, err := svc.Account(ctx, "acme", "bob"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another partner's account: %v", err)
		}
		if got, err := svc.Account(ctx, "acme", a.ID); err != nil || got.Username != "alice" {
			t.Errorf("by ID: %+v %v", got, err)
		}
	})
}
