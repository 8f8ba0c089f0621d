// Package pop3 implements a POP3 server (RFC 1939) with the CAPA
// extension mechanism (RFC 2449), extended response codes (RFC 2449,
// RFC 3206) and STARTTLS for POP3, the STLS command (RFC 2595).
//
// The package speaks the protocol; the mail store lives behind the
// [Backend] and [Session] interfaces. A [Server] is configured much like
// a net/http.Server and serves one goroutine per connection:
//
//	srv := &pop3.Server{
//		Backend:   backend,
//		TLSConfig: tlsConfig, // optional: enables STLS
//		Greeting:  "mail.example.org POP3 ready",
//	}
//	err := srv.Serve(ln) // returns ErrServerClosed after Shutdown or Close
//
// For implicit TLS (POP3S, port 995) wrap the listener with
// crypto/tls.NewListener; the server detects *tls.Conn connections,
// completes the handshake before the greeting and reports them as
// encrypted.
//
// # Session life cycle
//
// A connection starts in the AUTHORIZATION state. The client names a user
// with USER and proves its identity with PASS, at which point the server
// calls [Backend.Login]. On success the server immediately calls
// [Session.Lock], which must take the exclusive maildrop lock and return a
// snapshot of the messages: message number n on the wire is index n-1 of
// that slice for the whole session, whatever happens to the maildrop in the
// meantime. If Lock reports [ErrInUse] the client gets
// "-ERR [IN-USE] maildrop already locked", [Session.Close] is called and
// the connection stays in the AUTHORIZATION state so that the client may
// retry later.
//
// In the TRANSACTION state the server answers STAT, LIST, UIDL and DELE
// from the snapshot and its own deletion marks, and calls [Session.Open]
// for RETR and TOP; message content is streamed, never loaded whole. DELE
// only marks a message; RSET clears the marks. Nothing is changed in the
// store until QUIT, which moves the session to the UPDATE state and calls
// [Session.Commit] exactly once with the 0-based indexes of the marked
// messages (possibly none). Commit must apply all the deletions atomically.
//
// [Session.Close] is always called once the session ends, after Commit if
// there was one, and must release the lock. A connection that ends in any
// other way (network error, timeout, server shutdown) gets Close without
// Commit, so that nothing is deleted, as RFC 1939 requires.
//
// Every backend call receives the connection's context, which is canceled
// when the connection ends or the server is closed; backends should honor
// it so that [Server.Shutdown] and [Server.Close] return promptly.
//
// # Errors
//
// Backends report protocol-visible failures with an [*Error], whose Code
// is sent as an RFC 2449 response code: [ErrAuthFailed], [ErrInUse] and
// [ErrTempFailure] are predefined. An *Error (possibly wrapped) returned by
// a backend method is sent to the client as is; any other error is logged
// to Server.ErrorLog and the client only sees "-ERR [SYS/TEMP] ...", so
// that internal details never leak.
//
// # Protocol limits
//
// Commands are case-insensitive and may be pipelined (RFC 2449
// PIPELINING). A command line longer than Server.MaxLineLength is answered
// with "-ERR line too long" and discarded without being buffered. After
// 10 consecutive -ERR replies the server answers "-ERR too many errors" and
// closes the connection; after 3 failed logins it closes the connection
// too. APOP and SASL AUTH are not supported.
package pop3
