package pop3

import (
	"context"
	"io"
	"net"
)

// Backend authenticates users and opens their maildrops.
type Backend interface {
	// Login is called on PASS with the name given by USER and the password; conn describes the client connection.
	// It returns an *Error (such as ErrAuthFailed) to refuse the login with that reply.
	Login(ctx context.Context, conn ConnInfo, username, password string) (Session, error)
}

// ConnInfo describes the client connection a login attempt comes from.
type ConnInfo struct {
	// RemoteAddr is the client's network address.
	RemoteAddr net.Addr
	// TLS reports whether the connection is encrypted (implicit TLS or after STLS).
	TLS bool
	// Conn is the connection as the listener returned it (under TLS, if
	// any): for a listener wrapper that wants to know of the login.
	Conn net.Conn
	// Disconnect closes the connection at once, as if the client had
	// dropped it: the session gets Close without Commit, so nothing is
	// deleted. A backend may keep it to end a session whose credentials
	// went stale. It is safe to call from any goroutine, more than once,
	// and after the connection ended. It is never nil for a login from
	// the Server.
	Disconnect func()
}

// BackendFunc adapts an ordinary function to the Backend interface.
type BackendFunc func(ctx context.Context, conn ConnInfo, username, password string) (Session, error)

// Login is called on PASS; it calls f.
func (f BackendFunc) Login(ctx context.Context, conn ConnInfo, username, password string) (Session, error) {
	return f(ctx, conn, username, password)
}

var _ Backend = (BackendFunc)(nil)

// MessageInfo describes one message of a maildrop snapshot.
type MessageInfo struct {
	// Size is the message size in octets as reported by STAT, LIST and
	// RETR. RFC 1939 defines it as the size with CRLF line endings, before
	// dot-stuffing; it must not be negative.
	Size int64
	// UID is the unique-id listing reported by UIDL: 1 to 70 characters in
	// the range 0x21-0x7E, unique within the maildrop and stable across
	// sessions (see ValidUID).
	UID string
}

// Session is one authenticated user's access to their maildrop. The server
// calls its methods from a single goroutine, never concurrently.
type Session interface {
	// Lock is called right after a successful Login: take the maildrop lock and snapshot the message list (index 0 = message 1). Return ErrInUse if another session holds it.
	Lock(ctx context.Context) ([]MessageInfo, error)
	// Open is called by RETR and TOP with a 0-based index into the snapshot; the server closes the reader when done.
	Open(ctx context.Context, index int) (io.ReadCloser, error)
	// Commit is called once on QUIT in TRANSACTION state with the 0-based indexes marked deleted, ascending (possibly empty); the deletes must be applied atomically.
	Commit(ctx context.Context, deleted []int) error
	// Close is called when the connection ends, always, after Commit if any; it releases the lock. A dropped connection gets Close without Commit (nothing deleted).
	Close() error
}

// ValidUID reports whether uid is a valid RFC 1939 unique-id: 1 to 70
// characters, each in the range 0x21 to 0x7E.
func ValidUID(uid string) bool {
	if len(uid) < 1 || len(uid) > 70 {
		return false
	}
	for i := 0; i < len(uid); i++ {
		if uid[i] < 0x21 || uid[i] > 0x7e {
			return false
		}
	}
	return true
}
