package smtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/ferryhq/ferry/internal/connlimit"
	"github.com/ferryhq/ferry/internal/netaddr"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// Replies of this server; go-smtp sends an *SMTPError as is.
var (
	errNoSuchUser  = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox here"}
	errRelayDenied = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied: this server only accepts mail for its own domain"}
	errNoRelay     = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Relaying is not offered: only local mailboxes are delivered"}
	errBadAddress  = &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	errTempFailure = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, please try again later"}
	errNoRcpt      = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients"}
	errAuthTemp    = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}
	// RFC 3463 5.2.2: mailbox full.
	errMailboxFull = &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 2, 2}, Message: "mailbox full"}
	// Some recipients of one DATA have room and some do not: SMTP has one
	// reply for all of them, so nothing is stored and the sender retries;
	// then RCPT refuses the full mailboxes (with the SIZE the sender gives).
	errSomeFull = &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 2, 2}, Message: "mailbox full for some recipients; nothing delivered, try again"}
	// A line over MaxLineLength in DATA: the message can never pass, so the
	// reply is permanent (RFC 5321 4.5.3.1's "500 Line too long"; X.5.2 is
	// RFC 3463's syntax error). go-smtp then ends the session, since the
	// rest of the over-long line cannot be read as commands.
	errLineTooLong = &gosmtp.SMTPError{Code: 500, EnhancedCode: gosmtp.EnhancedCode{5, 5, 2}, Message: "Line too long"}
)

type backend struct{ s *Server }

// NewSession is called after EHLO/HELO.
func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	ctx, cancel := context.WithCancel(context.Background())
	return &session{s: b.s, conn: c, ctx: ctx, cancel: cancel}, nil
}

type session struct {
	s      *Server
	conn   *gosmtp.Conn
	ctx    context.Context
	cancel context.CancelFunc

	user  string // authenticated account, "" if none
	login *partners.Login
	from  string
	size  int64 // SIZE of MAIL FROM, 0 if not given
	rcpts []rcpt
	// granted: this unauthenticated sender's current transaction has had
	// its TransactionTimeout; the next needs a delivered message.
	granted bool
}

type rcpt struct {
	addr      string
	partnerID string // "" for an outside recipient (authenticated submission)
}

var _ gosmtp.AuthSession = (*session)(nil)

func (s *session) remote() net.Addr { return s.conn.Conn().RemoteAddr() }

func (s *session) isTLS() bool {
	_, ok := s.conn.TLSConnectionState()
	return ok
}

// AuthMechanisms lists PLAIN; go-smtp offers it only over TLS.
func (s *session) AuthMechanisms() []string {
	if s.s.Logins == nil {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth is called on AUTH.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || s.s.Logins == nil {
		return nil, gosmtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return gosmtp.ErrAuthFailed
		}
		l, err := s.s.Logins.Login(s.ctx, "smtp", username, password, s.remote(), s.isTLS())
		if errors.Is(err, mailbox.ErrAuthFailed) {
			return gosmtp.ErrAuthFailed
		}
		if err != nil {
			s.s.log().Error("smtp auth", "err", err)
			return errAuthTemp
		}
		s.user, s.login = username, l
		if c := connlimit.Of(s.conn.Conn()); c != nil {
			c.LoggedIn()
		}
		return nil
	}), nil
}

// Mail is called on MAIL FROM.
func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	s.from = from
	s.size = 0
	if opts != nil {
		s.size = opts.Size
	}
	s.rcpts = s.rcpts[:0]
	s.startTransaction()
	return nil
}

// startTransaction gives an unauthenticated sender TransactionTimeout for
// the message its MAIL FROM starts, once per delivered message (see
// Server.LoginTimeout).
func (s *session) startTransaction() {
	if s.user != "" || s.granted || s.s.LoginTimeout <= 0 {
		return
	}
	if c := connlimit.Of(s.conn.Conn()); c != nil {
		s.granted = true
		c.SetLoginDeadline(time.Now().Add(orDefault(s.s.TransactionTimeout, DefaultTransactionTimeout)))
	}
}

// delivered starts the login bound again after a delivered message.
func (s *session) delivered() {
	if s.user != "" || !s.granted {
		return
	}
	if c := connlimit.Of(s.conn.Conn()); c != nil {
		s.granted = false
		c.SetLoginDeadline(time.Now().Add(s.s.LoginTimeout))
	}
}

// Rcpt is called on RCPT TO: only existing partner mailboxes of a local
// domain are accepted.
func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	at := strings.LastIndexByte(to, '@')
	if at <= 0 || at == len(to)-1 {
		return errBadAddress
	}
	local, domain := to[:at], to[at+1:]
	if !s.s.isLocal(domain) && s.login != nil && s.s.Submission != nil {
		// An account writing outside: the submission rule decides.
		route, err := s.s.Submission.Route(s.ctx, to)
		if err == nil && route.Outside() {
			s.rcpts = append(s.rcpts, rcpt{addr: to})
			return nil
		}
	}
	if !s.s.isLocal(domain) {
		s.s.log().Info("smtp relay refused", "remote", s.remote().String(), "from", s.from, "to", to, "user", s.user)
		if s.user != "" {
			return errNoRelay
		}
		return errRelayDenied
	}
	partnerID, err := s.s.Store.PartnerID(s.ctx, local)
	if errors.Is(err, mailbox.ErrNoSuchMailbox) {
		return errNoSuchUser
	}
	if err != nil {
		s.s.log().Error("smtp rcpt", "to", to, "err", err)
		return errTempFailure
	}
	for _, r := range s.rcpts {
		if r.partnerID == partnerID {
			return nil
		}
	}
	// A mailbox that is full, or too full for the size the sender
	// announced, is refused for this recipient only.
	if err := s.s.Store.CheckQuota(s.ctx, partnerID, s.size); errors.Is(err, mailbox.ErrOverQuota) {
		s.s.log().Info("smtp mailbox full", "remote", s.remote().String(), "from", s.from, "to", to, "size", s.size)
		return errMailboxFull
	} else if err != nil {
		s.s.log().Error("smtp rcpt", "to", to, "err", err)
		return errTempFailure
	}
	s.rcpts = append(s.rcpts, rcpt{addr: to, partnerID: partnerID})
	return nil
}

// Data is called with the message; it returns only once the message is
// committed.
func (s *session) Data(r io.Reader) error {
	if len(s.rcpts) == 0 {
		return errNoRcpt
	}
	if tc := s.s.conn(s.remote()); tc != nil {
		tc.busy.Store(true)
		defer tc.busy.Store(false)
	}
	var rcpts []mailbox.Recipient
	var outside []string
	for _, rc := range s.rcpts {
		if rc.partnerID == "" {
			outside = append(outside, rc.addr)
			continue
		}
		rcpts = append(rcpts, mailbox.Recipient{PartnerID: rc.partnerID})
	}
	if len(outside) > 0 {
		return s.submit(r, rcpts, outside)
	}
	d, err := s.s.Store.DeliverTo(s.ctx, rcpts, r, mailbox.DeliverOptions{Trace: s.trace(), Received: true})
	if err != nil {
		// Drain what the client still sends so that the reply is read.
		_, _ = io.Copy(io.Discard, r)
		var se *gosmtp.SMTPError
		var qe *store.MailQuotaError
		switch {
		case errors.As(err, &qe):
			s.s.log().Info("smtp mailbox full", "remote", s.remote().String(), "from", s.from,
				"rcpts", len(rcpts), "full", len(qe.PartnerIDs))
			if len(qe.PartnerIDs) >= len(rcpts) {
				return errMailboxFull
			}
			return errSomeFull
		case errors.As(err, &se):
			return se
		case errors.Is(err, gosmtp.ErrDataTooLarge), errors.Is(err, mailbox.ErrTooBig):
			return gosmtp.ErrDataTooLarge
		case errors.Is(err, gosmtp.ErrTooLongLine):
			s.s.log().Info("smtp line too long", "remote", s.remote().String(), "from", s.from)
			return errLineTooLong
		}
		s.s.log().Error("smtp delivery failed", "from", s.from, "err", err)
		return errTempFailure
	}
	s.delivered()
	s.s.log().Info("mail delivered", "from", s.from, "rcpts", len(rcpts), "bytes", d.Size, "blob", d.Blob,
		"remote", s.remote().String(), "user", s.user)
	return nil
}

// trace returns the Return-Path and Received lines RFC 5321 4.4 requires
// at delivery.
func (s *session) trace() []byte {
	with := "ESMTP"
	if s.isTLS() {
		with += "S"
	}
	if s.user != "" {
		with += "A"
	}
	helo := sanitize(s.conn.Hostname())
	ip := netaddr.Of(s.remote()).String()
	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", sanitize(s.from))
	fmt.Fprintf(&b, "Received: from %s ([%s])\r\n\tby %s (Ferry) with %s id %s", helo, ip, sanitize(s.s.hostname()), with, store.NewID())
	if len(s.rcpts) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", sanitize(s.rcpts[0].addr))
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", time.Now().UTC().Format(time.RFC1123Z))
	return []byte(b.String())
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '<' || r == '>' {
			return -1
		}
		return r
	}, s)
}

// Reset is called on RSET and after each message.
func (s *session) Reset() {
	s.from = ""
	s.size = 0
	s.rcpts = s.rcpts[:0]
}

// Logout is called when the connection ends.
func (s *session) Logout() error {
	s.cancel()
	return nil
}

// submit takes a message of an authenticated account with outside
// recipients: read whole (within MaxMessageBytes, which go-smtp enforces),
// then the submission rule delivers the local copies and queues the
// outside ones in the outbox, as the portal's sending does.
func (s *session) submit(r io.Reader, local []mailbox.Recipient, outside []string) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		_, _ = io.Copy(io.Discard, r)
		if errors.Is(err, gosmtp.ErrDataTooLarge) {
			return gosmtp.ErrDataTooLarge
		}
		if errors.Is(err, gosmtp.ErrTooLongLine) {
			return errLineTooLong
		}
		return errTempFailure
	}
	routes := make([]mailbox.Route, 0, len(local)+len(outside))
	for _, l := range local {
		routes = append(routes, mailbox.Route{PartnerID: l.PartnerID})
	}
	for _, a := range outside {
		routes = append(routes, mailbox.Route{Addr: a})
	}
	raw = append(s.trace(), raw...)
	if err := s.s.Submission.Submit(s.ctx, s.login.PartnerID, s.from, routes, raw, false); err != nil {
		s.s.log().Error("smtp submission failed", "from", s.from, "user", s.user, "err", err)
		if errors.Is(err, mailbox.ErrOverQuota) {
			return errMailboxFull
		}
		return errTempFailure
	}
	s.s.log().Info("mail submitted", "from", s.from, "user", s.user, "local", len(local), "outside", len(outside),
		"bytes", len(raw), "remote", s.remote().String())
	return nil
}
