package proxied

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct, no header", "198.51.100.7:5000", nil, "198.51.100.7"},
		{"untrusted peer: header ignored", "198.51.100.7:5000", []string{"203.0.113.9"}, "198.51.100.7"},
		{"trusted proxy", "10.0.0.2:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"trusted proxy, no header", "10.0.0.2:5000", nil, "10.0.0.2"},
		{"spoofed entries left of the client", "10.0.0.2:5000", []string{"203.0.113.9, 192.0.2.1, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", "10.0.0.2:5000", []string{"198.51.100.7, 10.0.0.5", "10.0.0.3"}, "198.51.100.7"},
		{"spoofed trusted address", "10.0.0.2:5000", []string{"10.9.9.9, 198.51.100.7"}, "198.51.100.7"},
		{"all hops trusted", "10.0.0.2:5000", []string{"10.0.0.7, 10.0.0.5"}, "10.0.0.7"},
		{"garbage right of the client stops at the trusted hop", "10.0.0.2:5000", []string{"198.51.100.7, junk"}, "10.0.0.2"},
		{"garbage left of the client", "10.0.0.2:5000", []string{"junk, 198.51.100.7"}, "198.51.100.7"},
		{"ports and brackets", "[fd00::1]:443", []string{"[2001:db8::7]:1234"}, "2001:db8::7"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.2]:80", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ClientAddr(r, trusted).String(); got != tc.want {
				t.Errorf("ClientAddr = %s, want %s", got, tc.want)
			}
			if got := ClientIP(r, trusted); got != tc.want {
				t.Errorf("ClientIP = %s, want %s", got, tc.want)
			}
			// Without trusted proxies the peer is the client, whatever the header says.
			if got, want := ClientAddr(r, nil), parseHost(tc.remote); got != want {
				t.Errorf("no trusted proxies: %s, want %s", got, want)
			}
		})
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "pipe"
	if a := ClientAddr(r, trusted); a.IsValid() {
		t.Errorf("non-address peer: %s", a)
	}
	if got := ClientIP(r, trusted); got != "pipe" {
		t.Errorf("ClientIP of a non-address peer: %q", got)
	}
}
