package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store/storetest"
	"github.com/ferryhq/ferry/web"
)

// Behind a trusted reverse proxy, failed sign-ins ban the client named by
// X-Forwarded-For, not the proxy; from any other peer the header is
// ignored, and entries a client prepends cannot dodge its ban.
func TestXFFSignInBansTheClient(t *testing.T) {
	st := storetest.Open(t, storetest.Backends()[0])
	guard := &bans.Guard{Store: st, MaxFailures: 2, Window: time.Minute, BanTime: time.Minute}
	srv := &web.Server{Store: st, Partners: &partners.Service{Store: st, FilesDir: t.TempDir()}, Guard: guard,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	h := srv.Handler()
	signIn := func(remote string, xff ...string) int {
		t.Helper()
		form := url.Values{"csrf": {"c"}, "token": {"wrong"}}
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(&http.Cookie{Name: "ferry_login", Value: "c"})
		r.RemoteAddr = remote
		for _, v := range xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	banned := func(ip string) bool {
		t.Helper()
		return guard.Check(context.Background(), netip.MustParseAddr(ip)) != nil
	}

	// Through the trusted proxy: the client is banned, the proxy is not.
	for range 2 {
		if code := signIn("10.0.0.2:4000", "198.51.100.7"); code != http.StatusUnauthorized {
			t.Fatalf("failed sign-in: %d", code)
		}
	}
	if !banned("198.51.100.7") || banned("10.0.0.2") {
		t.Fatalf("banned: client %v, proxy %v; want the client only", banned("198.51.100.7"), banned("10.0.0.2"))
	}
	if code := signIn("10.0.0.2:4000", "198.51.100.7"); code != http.StatusTooManyRequests {
		t.Fatalf("banned client through the proxy: %d, want 429", code)
	}
	// Another client behind the same proxy is not affected.
	if code := signIn("10.0.0.2:4000", "198.51.100.8"); code != http.StatusUnauthorized {
		t.Fatalf("other client through the proxy: %d, want 401", code)
	}
	// Spoofed: the banned client prepends addresses of its own; the proxy
	// appends the real one, which is what counts.
	if code := signIn("10.0.0.2:4000", "192.0.2.55, 10.1.1.1, 198.51.100.7"); code != http.StatusTooManyRequests {
		t.Fatalf("spoofed header dodged the ban: %d", code)
	}
	// Untrusted peer: the header is ignored, the peer itself is counted.
	for range 2 {
		if code := signIn("203.0.113.5:4000", "198.51.100.20"); code != http.StatusUnauthorized {
			t.Fatalf("failed sign-in: %d", code)
		}
	}
	if !banned("203.0.113.5") || banned("198.51.100.20") {
		t.Fatalf("untrusted peer: banned peer %v, header address %v; want the peer only",
			banned("203.0.113.5"), banned("198.51.100.20"))
	}
	// An untrusted peer cannot unban itself by naming another address.
	if code := signIn("203.0.113.5:4000", "198.51.100.21"); code != http.StatusTooManyRequests {
		t.Fatalf("banned untrusted peer with a header: %d, want 429", code)
	}
}
