package mailbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/ferryhq/ferry/internal/netaddr"
	"github.com/ferryhq/ferry/partners"
)

// Guard is Ferry's shared IP ban (package bans), as the mail front ends use
// it: Check at connect, Failure and Success at login. A nil Guard means no
// ban checks.
type Guard interface {
	// Check returns an error while ip is banned.
	Check(ctx context.Context, ip netip.Addr) error
	// Failure records a failed login from ip.
	Failure(ctx context.Context, ip netip.Addr, protocol, username string)
	// Success records a successful login of username from ip.
	Success(ctx context.Context, ip netip.Addr, username string)
}

// Authenticator checks FTP credentials (partners.Service).
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string, remote netip.Addr) (*partners.Login, error)
}

var _ Authenticator = (*partners.Service)(nil)

// ErrAuthFailed is the one answer to a refused mail login, whatever the
// reason (the reason is logged).
var ErrAuthFailed = errors.New("mailbox: authentication failed")

// Logins decides who may read a partner mailbox: the partner's enabled
// accounts that have the mail permission, with their FTP credentials,
// over TLS when the account or partner requires it. Every refusal counts
// toward the IP ban.
type Logins struct {
	Auth   Authenticator
	Guard  Guard // nil: no ban accounting
	Logger *slog.Logger
}

// Login authenticates username for protocol ("imap", "pop3", "smtp") from
// remote; tls tells whether the connection is encrypted. It returns an
// error matching ErrAuthFailed when the credentials are refused, any
// other error when the check itself failed.
func (l *Logins) Login(ctx context.Context, protocol, username, password string, remote net.Addr, tls bool) (*partners.Login, error) {
	ip := netaddr.Of(remote)
	login, err := l.Auth.Authenticate(ctx, username, password, ip)
	reason := ""
	switch {
	case errors.Is(err, partners.ErrAuthFailed):
		reason = err.Error()
	case err != nil:
		return nil, fmt.Errorf("mailbox: %s login: %w", protocol, err)
	case !login.Perms.Has(partners.PermMail):
		reason = "account lacks the mail permission"
	case login.TLSRequired && !tls:
		reason = "account requires TLS"
	}
	if reason != "" {
		l.logger().Info("mail login refused", "protocol", protocol, "user", username, "remote", ip.String(), "reason", reason)
		if l.Guard != nil {
			l.Guard.Failure(ctx, ip, protocol, username)
		}
		return nil, fmt.Errorf("%w: %s", ErrAuthFailed, reason)
	}
	if l.Guard != nil {
		l.Guard.Success(ctx, ip, username)
	}
	return login, nil
}

func (l *Logins) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}
