// Package netaddr turns a connection's address into the netip.Addr that
// bans, limits and allow-lists key on.
package netaddr

import (
	"net"
	"net/netip"
)

// Of returns the IP of a (IPv4-mapped IPv6 unmapped), or the zero Addr.
func Of(a net.Addr) netip.Addr {
	switch v := a.(type) {
	case *net.TCPAddr:
		return v.AddrPort().Addr().Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
