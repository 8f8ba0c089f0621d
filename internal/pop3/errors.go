package pop3

import (
	"errors"
	"strings"
)

// Error is a POP3 error reply. Backends return it (possibly wrapped) to
// choose the "-ERR" line the client receives.
type Error struct {
	// Code is an optional extended response code (RFC 2449, RFC 3206)
	// such as "IN-USE", "AUTH", "SYS/TEMP" or "SYS/PERM"; it is sent in
	// square brackets before the message. Empty means no code.
	Code string
	// Message is the human-readable text of the reply.
	Message string
}

// Error returns the reply text, prefixed with "pop3: ".
func (e *Error) Error() string {
	return "pop3: " + e.reply()
}

// reply returns the text that follows "-ERR " on the wire. Characters that
// could break the line structure are replaced, so the result is always a
// single line.
func (e *Error) reply() string {
	msg := sanitizeLine(e.Message)
	if e.Code == "" {
		return msg
	}
	code := strings.Map(func(r rune) rune {
		if r <= ' ' || r >= 0x7f || r == '[' || r == ']' {
			return '-'
		}
		return r
	}, e.Code)
	if msg == "" {
		return "[" + code + "]"
	}
	return "[" + code + "] " + msg
}

// Errors a Backend or Session may return; the server sends them as is.
var (
	// ErrAuthFailed rejects a login: "-ERR [AUTH] invalid credentials".
	ErrAuthFailed = &Error{Code: "AUTH", Message: "invalid credentials"}
	// ErrInUse is returned by Session.Lock when another session holds the
	// maildrop lock: "-ERR [IN-USE] maildrop already locked".
	ErrInUse = &Error{Code: "IN-USE", Message: "maildrop already locked"}
	// ErrTempFailure reports a transient server-side problem:
	// "-ERR [SYS/TEMP] temporary failure, try again later". The server
	// sends it in place of any backend error that is not an *Error.
	ErrTempFailure = &Error{Code: "SYS/TEMP", Message: "temporary failure, try again later"}
)

// ErrServerClosed is returned by Server.Serve after a call to
// Server.Shutdown or Server.Close.
var ErrServerClosed = errors.New("pop3: Server closed")

// Replies used by the server itself.
var (
	errUnknownCommand = &Error{Message: "unknown command"}
	errWrongState     = &Error{Message: "command not valid in this state"}
	errSyntax         = &Error{Message: "syntax error"}
	errInvalidChars   = &Error{Message: "invalid characters in command"}
	errEmptyCommand   = &Error{Message: "empty command"}
	errLineTooLong    = &Error{Message: "line too long"}
	errNoSuchMessage  = &Error{Message: "no such message"}
	errBadLineCount   = &Error{Message: "invalid line count"}
	errNoUser         = &Error{Message: "send USER first"}
	errTLSRequired    = &Error{Code: "AUTH", Message: "TLS required"}
	errAPOP           = &Error{Message: "APOP not supported"}
	errNoSTLS         = &Error{Message: "STLS not available"}
	errAlreadyTLS     = &Error{Message: "already using TLS"}
	errCommitFailed   = &Error{Code: "SYS/TEMP", Message: "some deleted messages not removed"}
	errShuttingDown   = &Error{Code: "SYS/TEMP", Message: "server shutting down"}
	errAutologout     = &Error{Message: "autologout timer expired"}
	errTooManyErrors  = &Error{Message: "too many errors"}
	errInternal       = &Error{Code: "SYS/TEMP", Message: "internal server error"}
)

// errCloseConn is returned by command handlers to end the connection after
// the reply has been written.
var errCloseConn = errors.New("pop3: closing connection")

// sanitizeLine replaces control characters so that s fits on one
// response line.
func sanitizeLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
