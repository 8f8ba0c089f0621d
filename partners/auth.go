package partners

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/store"
)

// ErrAuthFailed is the one answer to a failed login, whatever the reason:
// unknown user, wrong password, disabled account or partner, address not
// allowed. The reason is in Reason for logs and audit, never for the client.
var ErrAuthFailed = errors.New("authentication failed")

// AuthError carries why a login failed.
type AuthError struct{ Reason string }

func (e *AuthError) Error() string        { return ErrAuthFailed.Error() + ": " + e.Reason }
func (e *AuthError) Is(target error) bool { return target == ErrAuthFailed }

// Login is a verified account, what a protocol session needs.
type Login struct {
	AccountID   string
	Username    string
	PartnerID   string
	PartnerSlug string
	HomeDir     string
	Perms       Perm
	TLSRequired bool // account or partner policy
	// EBCDICCodePage is the code page of FTP's TYPE E for this partner:
	// "IBM-1047" (also when empty) or "IBM-037".
	EBCDICCodePage string
	// Fingerprint changes whenever anything that decided this login
	// changes: password, permissions, home, TLS policy, address ranges,
	// enabled flags. Live sessions compare it to close stale ones.
	Fingerprint string
}

// Fingerprint digests what a login of a depends on (a.Partner must be set).
func Fingerprint(a *store.Account) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%v\x00%v", a.PasswordHash, a.Permissions, a.HomeDir, a.TLSRequired, a.Enabled)
	if p := a.Partner; p != nil {
		fmt.Fprintf(h, "\x00%v\x00%v\x00%s", p.Enabled, p.TLSRequired, p.AllowedCIDRs)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// LastLoginResolution is how old an account's recorded last login may be
// before a new login records itself: it is exact to within this.
const LastLoginResolution = time.Minute

// Authenticate checks a username and password from remote. Verified
// credentials are cached for a short while so that a burst of sessions pays
// the argon2id cost once; the cache is keyed by the stored hash, so a
// password change invalidates it at once on every node.
func (s *Service) Authenticate(ctx context.Context, username, pw string, remote netip.Addr) (*Login, error) {
	a, err := s.Store.LoginAccount(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		// Spend comparable time so that timing does not reveal which
		// usernames exist.
		if err := s.verify(ctx, "", pw, s.dummyHash()); err != nil && !errors.Is(err, password.ErrMismatch) {
			return nil, fmt.Errorf("authenticate %q: %w", username, err)
		}
		return nil, &AuthError{Reason: "unknown user"}
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate %q: %w", username, err)
	}
	if !s.cache.ok(a.ID, a.PasswordHash, pw) {
		if err := s.verify(ctx, a.ID, pw, a.PasswordHash); err != nil {
			if errors.Is(err, password.ErrMismatch) {
				return nil, &AuthError{Reason: "wrong password"}
			}
			return nil, fmt.Errorf("authenticate %q: %w", username, err)
		}
		s.cache.put(a.ID, a.PasswordHash, pw)
	}
	if !a.Enabled {
		return nil, &AuthError{Reason: "account disabled"}
	}
	if a.Partner == nil || !a.Partner.Enabled {
		return nil, &AuthError{Reason: "partner disabled"}
	}
	if !AddrAllowed(a.Partner.AllowedCIDRs, remote) {
		return nil, &AuthError{Reason: "address " + remote.String() + " not in the partner's allowed ranges"}
	}
	perms, err := ParsePerm(a.Permissions)
	if err != nil {
		return nil, fmt.Errorf("account %q has bad permissions: %w", username, err)
	}
	// The last login is kept to the minute: a burst of sessions does not
	// queue a write each behind the database's one writer.
	if now := time.Now(); a.LastLoginAt == nil || now.Sub(*a.LastLoginAt).Abs() >= LastLoginResolution {
		if err := s.Store.TouchLogin(ctx, a.ID, now); err != nil {
			return nil, err
		}
	}
	return &Login{
		AccountID: a.ID, Username: a.Username, PartnerID: a.PartnerID, PartnerSlug: a.Partner.Slug,
		HomeDir: a.HomeDir, Perms: perms, TLSRequired: a.TLSRequired || a.Partner.TLSRequired,
		EBCDICCodePage: a.Partner.EBCDICCodePage,
		Fingerprint:    Fingerprint(a),
	}, nil
}

// verify checks a password against a hash. Checks are memory-hard, so at
// most MaxConcurrentVerify run at once (the rest wait, or give up with
// ctx), and concurrent logins of one account with one password share a
// single check: a burst of logins, good or bad, cannot exhaust memory.
func (s *Service) verify(ctx context.Context, accountID, pw, hash string) error {
	key := ""
	if accountID != "" {
		s.cache.mu.Lock()
		sum := s.cache.sum(hash, pw)
		s.cache.mu.Unlock()
		key = accountID + ":" + string(sum[:])
	}
	check := func() (any, error) {
		if s.cache.ok(accountID, hash, pw) {
			return nil, nil
		}
		if err := s.acquire(ctx); err != nil {
			return nil, err
		}
		defer s.release()
		return nil, password.Verify(pw, hash)
	}
	if key == "" {
		_, err := check()
		return err
	}
	_, err, _ := s.flight.Do(key, check)
	return err
}

// HashPassword hashes pw with the service's argon2id parameters, for
// other logins than accounts (the web admin's users).
func (s *Service) HashPassword(ctx context.Context, pw string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.release()
	return password.Hash(pw, s.hashParams())
}

// VerifyPassword checks pw against a hash made by HashPassword under the
// same bound on concurrent checks as Authenticate: at most
// MaxConcurrentVerify checks of every kind run at once, the rest wait or
// give up with ctx. An empty hash is checked against a dummy hash (so that
// an unknown user takes as long as a known one) and is ErrMismatch.
// Nothing is cached.
func (s *Service) VerifyPassword(ctx context.Context, pw, hash string) error {
	if hash == "" {
		if err := s.verify(ctx, "", pw, s.dummyHash()); err != nil && !errors.Is(err, password.ErrMismatch) {
			return err
		}
		return password.ErrMismatch
	}
	return s.verify(ctx, "", pw, hash)
}

func (s *Service) slots() chan struct{} {
	s.semOnce.Do(func() {
		n := s.MaxConcurrentVerify
		if n <= 0 {
			n = max(2, runtime.GOMAXPROCS(0))
		}
		s.sem = make(chan struct{}, n)
	})
	return s.sem
}

func (s *Service) acquire(ctx context.Context) error {
	s.checks.Add(1)
	select {
	case s.slots() <- struct{}{}:
		return nil
	case <-ctx.Done():
		s.checkEnded()
		return fmt.Errorf("wait for a password check: %w", ctx.Err())
	}
}

func (s *Service) release() {
	<-s.slots()
	s.checkEnded()
}

func (s *Service) checkEnded() {
	if s.checks.Add(-1) == 0 && s.ChecksDone != nil {
		s.ChecksDone()
	}
}

// TLSRequired reports whether a username must use TLS before sending its
// password. Unknown users report false so the answer reveals nothing more
// than the policy of existing accounts.
func (s *Service) TLSRequired(ctx context.Context, username string) (bool, error) {
	required, err := s.Store.AccountTLSRequired(ctx, username)
	if err != nil {
		return false, fmt.Errorf("look up %q: %w", username, err)
	}
	return required, nil
}

// ParseCIDR accepts an address range ("203.0.113.0/24") or one address.
func ParseCIDR(s string) (string, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked().String(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()).String(), nil
	}
	return "", fmt.Errorf("%q is not an address or range like 203.0.113.0/24", s)
}

// AddrAllowed reports whether remote is in the comma-separated ranges; an
// empty list allows every address.
func AddrAllowed(cidrs string, remote netip.Addr) bool {
	if strings.TrimSpace(cidrs) == "" {
		return true
	}
	remote = remote.Unmap()
	for _, c := range strings.Split(cidrs, ",") {
		if p, err := netip.ParsePrefix(strings.TrimSpace(c)); err == nil && p.Contains(remote) {
			return true
		}
	}
	return false
}

// dummyHash is hashed once, outside the cache lock, so that making it never
// holds up cached logins.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() { s.dummy, _ = password.Hash("not a password", s.hashParams()) })
	return s.dummy
}

// credentialCache remembers verified (account, hash, password) triples for
// a few minutes. It keeps only an HMAC-SHA-256 of them under a random
// per-process key, never the password.
type credentialCache struct {
	mu      sync.Mutex
	key     []byte
	entries map[string]cacheEntry
}

type cacheEntry struct {
	sum     [32]byte
	expires time.Time
}

const cacheTTL = 5 * time.Minute

// sum must be called with mu held.
func (c *credentialCache) sum(hash, pw string) [32]byte {
	if c.key == nil {
		c.key = make([]byte, 32)
		_, _ = rand.Read(c.key)
	}
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(hash))
	m.Write([]byte{0})
	m.Write([]byte(pw))
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

func (c *credentialCache) ok(id, hash, pw string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, found := c.entries[id]
	if !found || time.Now().After(e.expires) {
		return false
	}
	want := c.sum(hash, pw)
	return hmac.Equal(e.sum[:], want[:])
}

func (c *credentialCache) put(id, hash, pw string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]cacheEntry{}
	}
	if len(c.entries) > 100_000 {
		now := time.Now()
		for k, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, k)
			}
		}
	}
	c.entries[id] = cacheEntry{sum: c.sum(hash, pw), expires: time.Now().Add(cacheTTL)}
}

func (c *credentialCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
}
