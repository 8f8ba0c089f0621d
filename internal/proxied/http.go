package proxied

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr returns the address of the client that made r, for bans,
// audit and logs on the HTTP listener. When the direct peer
// (r.RemoteAddr) is in trusted, it is a reverse proxy: the client is the
// right-most address of X-Forwarded-For that is not itself a trusted
// proxy (each proxy appends the address it got the request from, so what
// lies left of the first untrusted hop was written by the client and
// proves nothing). When the peer is not trusted the header is ignored.
// If every hop is trusted, the left-most one is returned; an entry that
// is not an address stops the walk at the last trusted hop. The result is
// invalid only when r.RemoteAddr is not an address.
func ClientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseHost(r.RemoteAddr)
	if !peer.IsValid() || !contains(trusted, peer) {
		return peer
	}
	client := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a := parseHost(strings.TrimSpace(parts[j]))
			if !a.IsValid() {
				return client
			}
			client = a
			if !contains(trusted, a) {
				return a
			}
		}
	}
	return client
}

// ClientIP is ClientAddr as a string; when r.RemoteAddr is not an address
// it returns r.RemoteAddr's host part as it is.
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	if a := ClientAddr(r, trusted); a.IsValid() {
		return a.String()
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// parseHost parses "ip", "ip:port" or "[ip]:port".
func parseHost(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap().WithZone("")
		}
	}
	return netip.Addr{}
}

func contains(trusted []netip.Prefix, a netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
