package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// The admin audit log names the client: behind a trusted proxy the one in
// X-Forwarded-For, otherwise the peer, whatever header it sends.
func TestXFFAuditRemoteAddr(t *testing.T) {
	st := storetest.Open(t, storetest.Backends()[0])
	const token = "xff-test-admin-token-0123456789"
	srv := &api.Server{Store: st, Partners: &partners.Service{Store: st, FilesDir: t.TempDir()}, AdminToken: token,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	h := srv.Handler()
	for i, tc := range []struct {
		remote string
		xff    string
		want   string
	}{
		{"10.0.0.2:4000", "198.51.100.7", "198.51.100.7"},                        // trusted proxy
		{"10.0.0.2:4000", "203.0.113.9, 10.0.0.9, 198.51.100.8", "198.51.100.8"}, // spoofed entries on the left
		{"192.0.2.10:4000", "198.51.100.9", "192.0.2.10"},                        // untrusted peer: header ignored
		{"10.0.0.2:4000", "", "10.0.0.2"},                                        // the proxy itself
	} {
		slug := "xff" + string(rune('a'+i))
		r := httptest.NewRequest(http.MethodPost, "/api/v1/partners", strings.NewReader(`{"slug":"`+slug+`"}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+token)
		r.Header.Set("X-Real-IP", "192.0.2.99") // never believed
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		r.RemoteAddr = tc.remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusCreated {
			t.Fatalf("%s: create partner: %d %s", tc.remote, w.Code, w.Body)
		}
		rows, err := st.ListAdminAudit(context.Background(), store.AdminAuditFilter{Action: "partner.create", Limit: 1})
		if err != nil || len(rows) != 1 {
			t.Fatalf("audit rows %v, %v", rows, err)
		}
		if rows[0].RemoteAddr != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: audit remote %q, want %q", tc.remote, tc.xff, rows[0].RemoteAddr, tc.want)
		}
	}
}
