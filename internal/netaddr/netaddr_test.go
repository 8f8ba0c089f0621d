package netaddr

import (
	"net"
	"net/netip"
	"testing"
)

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		in   net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 21}, "192.0.2.1"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.2"), Port: 21}, "192.0.2.2"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 21}, "2001:db8::1"},
		{&net.UDPAddr{IP: net.ParseIP("198.51.100.1"), Port: 53}, "198.51.100.1"},
	} {
		if got := Of(tc.in); got != netip.MustParseAddr(tc.want) {
			t.Errorf("Of(%v) = %v, want %s", tc.in, got, tc.want)
		}
	}
	if Of(nil).IsValid() {
		t.Error("Of(nil) is valid")
	}
}
