package ftpd

import (
	"context"
	"net/netip"
)

// Guard keeps banned addresses out and counts failed logins; bans.Guard
// implements it. Every protocol shares one.
type Guard interface {
	// Check returns an error while ip is banned (matching bans.ErrBanned).
	Check(ctx context.Context, ip netip.Addr) error
	// Failure records a failed login.
	Failure(ctx context.Context, ip netip.Addr, protocol, username string)
	// Success records a good login of username (it forgets that
	// account's failures only).
	Success(ctx context.Context, ip netip.Addr, username string)
}
