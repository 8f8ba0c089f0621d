package pop3

import (
	"crypto/tls"
	"errors"
	"fmt"
)

// handleAuthorization executes a command in the AUTHORIZATION state.
func (c *conn) handleAuthorization(cmd string, args []string) error {
	switch cmd {
	case "CAPA":
		return c.cmdCAPA(args)
	case "USER":
		return c.cmdUSER(args)
	case "PASS":
		return c.cmdPASS(args)
	case "APOP":
		return c.replyErr(errAPOP)
	case "STLS":
		return c.cmdSTLS(args)
	case "QUIT":
		if len(args) != 0 {
			return c.replyErr(errSyntax)
		}
		c.replyOK("bye")
		return errCloseConn
	}
	if isTransactionCommand(cmd) {
		return c.replyErr(errWrongState)
	}
	return c.replyErr(errUnknownCommand)
}

// isAuthorizationCommand reports whether cmd is only valid in the
// AUTHORIZATION state.
func isAuthorizationCommand(cmd string) bool {
	switch cmd {
	case "USER", "PASS", "APOP", "STLS":
		return true
	}
	return false
}

// userAllowed reports whether USER/PASS may be used on this connection.
func (c *conn) userAllowed() bool {
	return c.isTLS || !c.srv.RequireTLSForAuth
}

// stlsAllowed reports whether STLS may be used now.
func (c *conn) stlsAllowed() bool {
	return c.state == stateAuthorization && c.srv.TLSConfig != nil && !c.isTLS
}

// cmdCAPA lists the capabilities (RFC 2449 section 5); valid in both the
// AUTHORIZATION and TRANSACTION states.
func (c *conn) cmdCAPA(args []string) error {
	if len(args) != 0 {
		return c.replyErr(errSyntax)
	}
	c.replyOK("Capability list follows")
	c.writeLine("TOP")
	c.writeLine("UIDL")
	if c.userAllowed() {
		c.writeLine("USER")
	}
	c.writeLine("RESP-CODES")
	c.writeLine("AUTH-RESP-CODE")
	c.writeLine("PIPELINING")
	if c.stlsAllowed() {
		c.writeLine("STLS")
	}
	c.writeLine("IMPLEMENTATION Ferry")
	c.writeLine(".")
	return nil
}

// cmdUSER records the user name for the following PASS.
func (c *conn) cmdUSER(args []string) error {
	if !c.userAllowed() {
		return c.replyErr(errTLSRequired)
	}
	if len(args) != 1 {
		return c.replyErr(errSyntax)
	}
	c.user, c.hasUser = args[0], true
	// The reply must not reveal whether the user exists.
	c.replyOK("send PASS")
	return nil
}

// cmdPASS authenticates with the Backend and locks the maildrop.
func (c *conn) cmdPASS(args []string) error {
	if !c.userAllowed() {
		return c.replyErr(errTLSRequired)
	}
	if !c.hasUser {
		return c.replyErr(errNoUser)
	}
	user := c.user
	c.user, c.hasUser = "", false
	if len(args) != 1 {
		return c.replyErr(errSyntax)
	}
	return c.login(user, args[0])
}

func (c *conn) login(username, password string) error {
	info := ConnInfo{RemoteAddr: c.nc.RemoteAddr(), TLS: c.isTLS, Conn: c.raw, Disconnect: c.forceClose}
	sess, err := c.srv.Backend.Login(c.ctx, info, username, password)
	if err == nil && sess == nil {
		err = errors.New("pop3: Backend.Login returned neither a Session nor an error")
	}
	if err != nil {
		c.authFailures++
		c.sleep(c.srv.AuthFailureDelay)
		reply := c.backendError("login", err)
		if c.authFailures >= maxAuthFailures {
			c.log.Info("pop3: closing connection after too many failed logins", "user", username)
			c.writeErr(reply)
			return errCloseConn
		}
		return c.replyErr(reply)
	}

	if c.srv.shuttingDown() {
		c.session = sess
		c.closeSession()
		c.writeErr(errShuttingDown)
		return errCloseConn
	}

	// From here on the session is ours to close, whatever happens.
	c.session = sess
	msgs, err := sess.Lock(c.ctx)
	if err != nil {
		c.closeSession()
		return c.replyErr(c.backendError("lock", err))
	}
	if err := validateSnapshot(msgs); err != nil {
		c.log.Error("pop3: invalid maildrop snapshot from Session.Lock", "user", username, "error", err)
		c.closeSession()
		return c.replyErr(ErrTempFailure)
	}
	c.msgs = msgs
	c.deleted = make([]bool, len(msgs))
	c.nDeleted = 0
	c.state = stateTransaction
	n, size := c.stat()
	c.replyOK(fmt.Sprintf("maildrop has %d messages (%d octets)", n, size))
	return nil
}

// validateSnapshot checks what Session.Lock returned.
func validateSnapshot(msgs []MessageInfo) error {
	seen := make(map[string]int, len(msgs))
	for i, m := range msgs {
		if m.Size < 0 {
			return fmt.Errorf("message %d: negative size %d", i+1, m.Size)
		}
		if !ValidUID(m.UID) {
			return fmt.Errorf("message %d: invalid UID %q", i+1, m.UID)
		}
		if j, dup := seen[m.UID]; dup {
			return fmt.Errorf("messages %d and %d: duplicate UID %q", j+1, i+1, m.UID)
		}
		seen[m.UID] = i
	}
	return nil
}

// cmdSTLS upgrades the connection to TLS (RFC 2595 section 4).
func (c *conn) cmdSTLS(args []string) error {
	if c.isTLS {
		return c.replyErr(errAlreadyTLS)
	}
	if c.srv.TLSConfig == nil {
		return c.replyErr(errNoSTLS)
	}
	if len(args) != 0 {
		return c.replyErr(errSyntax)
	}
	c.replyOK("Begin TLS negotiation")
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("pop3: writing reply: %w", err)
	}
	tc := tls.Server(c.nc, c.srv.TLSConfig)
	if err := c.handshake(tc); err != nil {
		c.log.Debug("pop3: STLS handshake failed", "error", err)
		return errCloseConn
	}
	c.nc = tc
	c.isTLS = true
	// Anything the client sent after STLS in plaintext is discarded
	// (CVE-2011-0411): only read from the TLS stream from now on.
	c.br = newCommandReader(tc, c.srv.maxLineLength())
	// RFC 2595: the session restarts as if newly connected, without a
	// new greeting.
	c.user, c.hasUser = "", false
	return nil
}
