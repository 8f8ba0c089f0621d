// Package sessions describes the live protocol sessions of this process as
// the admin front ends (the API and the web admin) list and close them.
// cmd/ferry adapts the protocol servers to Control and passes it in, so no
// front end imports a protocol package, nor another front end.
package sessions

import "time"

// Control is what the admin front ends need of the protocol servers: their
// live sessions, and a way to close them.
type Control interface {
	// Sessions lists the live sessions of every server.
	Sessions() []Info
	// Kick closes one session; it reports whether the session existed.
	Kick(id string) bool
	// KickAccount closes every session of an account (disabled or deleted)
	// and returns how many it closed.
	KickAccount(accountID string) int
}

// Info describes one live session.
type Info struct {
	ID          string // unique among the live sessions of this process, e.g. "ftp-12"
	Protocol    string // ftp, ftps, ...
	RemoteAddr  string
	TLS         bool
	Username    string // empty before login
	AccountID   string // empty before login; looked up from Username when the server does not know it
	PartnerID   string
	PartnerSlug string
	StartedAt   time.Time
	Transfers   int64  // transfers running now
	Current     string // the file being transferred, if any
	// Bytes moved by the session so far; nil when the server does not
	// count them.
	Bytes *int64
}
