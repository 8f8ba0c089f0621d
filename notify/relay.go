package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLS modes of a relay connection.
const (
	TLSNone     = "none"     // plain SMTP; AUTH only with AllowInsecureAuth
	TLSStartTLS = "starttls" // STARTTLS required before anything else
	TLSImplicit = "implicit" // TLS from the first byte (SMTPS, port 465)
)

// Relay sends mail through one SMTP relay with the go-smtp client. It keeps
// a few connections open between messages (RSET-free: a finished DATA ends
// the transaction), and is safe for concurrent use.
type Relay struct {
	Addr     string // host:port
	TLS      string // TLSNone, TLSStartTLS or TLSImplicit; "" means TLSStartTLS
	Username string // AUTH PLAIN (or LOGIN) when set
	Password string
	// AllowInsecureAuth permits AUTH over a connection without TLS. Off by
	// default: credentials never cross the network in the clear by accident.
	AllowInsecureAuth bool
	// TLSConfig verifies the relay; nil: the system roots and Addr's host.
	TLSConfig *tls.Config
	LocalName string        // EHLO name; "" means localhost
	Timeout   time.Duration // dial, and each command; 0 means 30s
	MaxIdle   int           // connections kept open between messages; 0 means 4

	mu   sync.Mutex
	idle []idleClient
}

type idleClient struct {
	c     *smtp.Client
	since time.Time
}

// idleFor closes kept connections unused for this long: relays drop idle
// clients after a minute or so, and a stale connection costs a redial.
const idleFor = 30 * time.Second

// ParseRelay reads FERRY_SMTP_RELAY:
//
//	smtp://[user:pass@]host[:port][?tls=none|starttls|implicit][&insecure_auth=true][&helo=name]
//	smtps://[user:pass@]host[:port]   (tls=implicit)
//
// The default port follows the TLS mode: 25 for none, 587 for starttls,
// 465 for implicit. Credentials with tls=none need insecure_auth=true.
func ParseRelay(raw string) (*Relay, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", redactURLError(err))
	}
	r := &Relay{}
	q := u.Query()
	switch u.Scheme {
	case "smtp":
		r.TLS = TLSStartTLS
	case "smtps":
		r.TLS = TLSImplicit
	default:
		return nil, fmt.Errorf("scheme %q: want smtp:// or smtps://", u.Scheme)
	}
	if v := q.Get("tls"); v != "" {
		switch v {
		case TLSNone, TLSStartTLS, TLSImplicit:
			r.TLS = v
		default:
			return nil, fmt.Errorf("tls=%q: want none, starttls or implicit", v)
		}
	}
	if v := q.Get("insecure_auth"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("insecure_auth=%q: want true or false", v)
		}
		r.AllowInsecureAuth = b
	}
	r.LocalName = q.Get("helo")
	for k := range q {
		switch k {
		case "tls", "insecure_auth", "helo":
		default:
			return nil, fmt.Errorf("unknown parameter %q (known: tls, insecure_auth, helo)", k)
		}
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, errors.New("no host")
	}
	if port == "" {
		port = map[string]string{TLSNone: "25", TLSStartTLS: "587", TLSImplicit: "465"}[r.TLS]
	}
	r.Addr = net.JoinHostPort(host, port)
	if u.User != nil {
		r.Username = u.User.Username()
		r.Password, _ = u.User.Password()
	}
	if r.Username != "" && r.TLS == TLSNone && !r.AllowInsecureAuth {
		return nil, errors.New("credentials with tls=none would be sent in the clear: use tls=starttls or tls=implicit, or add insecure_auth=true")
	}
	return r, nil
}

// redactURLError keeps url.Parse errors from echoing the password.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// String describes the relay without its password, for logs.
func (r *Relay) String() string {
	s := "smtp://"
	if r.Username != "" {
		s += url.User(r.Username).String() + ":***@"
	}
	return s + r.Addr + "?tls=" + r.tlsMode()
}

func (r *Relay) tlsMode() string {
	if r.TLS == "" {
		return TLSStartTLS
	}
	return r.TLS
}

func (r *Relay) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return 30 * time.Second
}

// SendError is a failed send. Temporary errors (4xx replies, connection
// and TLS failures) are worth a retry; the others (5xx) are not.
type SendError struct {
	Temporary bool
	Err       error
}

func (e *SendError) Error() string { return e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

func temporary(err error) *SendError { return &SendError{Temporary: true, Err: err} }

// classify turns a client error into a SendError: SMTP replies by their
// code, everything else (network, TLS, timeouts) as temporary.
func classify(err error) *SendError {
	var se *SendError
	if errors.As(err, &se) {
		return se
	}
	var smtpErr *smtp.SMTPError
	if errors.As(err, &smtpErr) {
		return &SendError{Temporary: smtpErr.Code < 500, Err: err}
	}
	return temporary(err)
}

// Result tells which recipients the relay took.
type Result struct {
	Accepted []string
	Rejected map[string]string // address: the relay's 5xx reply
}

// Send delivers msg (CRLF line endings) to the recipients. Recipients the
// relay refuses permanently (5xx to RCPT) are left out and reported; if it
// refuses all of them, or the message, the error is permanent. A temporary
// refusal of any recipient fails the whole send as temporary, so that a
// retry never mails the others twice.
func (r *Relay) Send(ctx context.Context, from string, to []string, msg []byte) (*Result, error) {
	if len(to) == 0 {
		return nil, &SendError{Err: errors.New("no recipients")}
	}
	c, reused, err := r.get(ctx)
	if err != nil {
		return nil, classify(err)
	}
	res, err := r.transact(ctx, c, from, to, msg)
	if err != nil && reused && !isReply(err) {
		// The relay closed a kept connection while it was idle: dial afresh.
		c.Close()
		if c, err = r.dial(ctx); err != nil {
			return nil, classify(err)
		}
		res, err = r.transact(ctx, c, from, to, msg)
	}
	if err != nil {
		if isReply(err) && c.Reset() == nil {
			r.put(c)
		} else {
			c.Close()
		}
		return res, classify(err)
	}
	r.put(c)
	return res, nil
}

// isReply reports whether err is the relay's answer, so the connection
// itself is still good.
func isReply(err error) bool {
	var smtpErr *smtp.SMTPError
	var se *SendError
	return errors.As(err, &smtpErr) || errors.As(err, &se)
}

func (r *Relay) transact(ctx context.Context, c *smtp.Client, from string, to []string, msg []byte) (*Result, error) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	var opts *smtp.MailOptions
	if !isASCII(from) || !allASCII(to) {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(from, opts); err != nil {
		return nil, err
	}
	res := &Result{}
	for _, addr := range to {
		err := c.Rcpt(addr, nil)
		var smtpErr *smtp.SMTPError
		switch {
		case err == nil:
			res.Accepted = append(res.Accepted, addr)
		case errors.As(err, &smtpErr) && smtpErr.Code >= 500:
			if res.Rejected == nil {
				res.Rejected = map[string]string{}
			}
			res.Rejected[addr] = err.Error()
		default:
			return res, err
		}
	}
	if len(res.Accepted) == 0 {
		return res, &SendError{Err: fmt.Errorf("every recipient refused: %s", joinRejected(res.Rejected))}
	}
	w, err := c.Data()
	if err != nil {
		return res, err
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return res, err
	}
	return res, w.Close()
}

func joinRejected(m map[string]string) string {
	var parts []string
	for a, e := range m {
		parts = append(parts, a+": "+e)
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// get returns a kept connection or a new one.
func (r *Relay) get(ctx context.Context) (*smtp.Client, bool, error) {
	r.mu.Lock()
	now := time.Now()
	for len(r.idle) > 0 {
		ic := r.idle[len(r.idle)-1]
		r.idle = r.idle[:len(r.idle)-1]
		if now.Sub(ic.since) < idleFor {
			r.mu.Unlock()
			return ic.c, true, nil
		}
		go ic.c.Close()
	}
	r.mu.Unlock()
	c, err := r.dial(ctx)
	return c, false, err
}

func (r *Relay) put(c *smtp.Client) {
	max := r.MaxIdle
	if max <= 0 {
		max = 4
	}
	r.mu.Lock()
	if len(r.idle) < max {
		r.idle = append(r.idle, idleClient{c, time.Now()})
		c = nil
	}
	r.mu.Unlock()
	if c != nil {
		_ = c.Quit()
	}
}

// Close says QUIT on the kept connections.
func (r *Relay) Close() error {
	r.mu.Lock()
	idle := r.idle
	r.idle = nil
	r.mu.Unlock()
	for _, ic := range idle {
		_ = ic.c.Quit()
	}
	return nil
}

// dial connects, secures and authenticates one client connection.
func (r *Relay) dial(ctx context.Context) (*smtp.Client, error) {
	d := net.Dialer{Timeout: r.timeout()}
	conn, err := d.DialContext(ctx, "tcp", r.Addr)
	if err != nil {
		return nil, fmt.Errorf("relay %s: %w", r.Addr, err)
	}
	host, _, _ := net.SplitHostPort(r.Addr)
	tlsCfg := &tls.Config{}
	if r.TLSConfig != nil {
		tlsCfg = r.TLSConfig.Clone()
	}
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = host
	}
	if tlsCfg.MinVersion == 0 {
		tlsCfg.MinVersion = tls.VersionTLS12
	}
	// Bound the greeting, STARTTLS and the handshake like any command.
	_ = conn.SetDeadline(time.Now().Add(r.timeout()))
	var c *smtp.Client
	switch r.tlsMode() {
	case TLSImplicit:
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("relay %s: TLS: %w", r.Addr, err)
		}
		c = smtp.NewClient(tc)
	case TLSStartTLS:
		c, err = smtp.NewClientStartTLS(conn, tlsCfg)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("relay %s: STARTTLS: %w", r.Addr, err)
		}
	default:
		c = smtp.NewClient(conn)
	}
	_ = conn.SetDeadline(time.Time{})
	c.CommandTimeout = r.timeout()
	c.SubmissionTimeout = 2 * r.timeout()
	name := r.LocalName
	if name == "" {
		name = "localhost"
	}
	if err := c.Hello(name); err != nil {
		c.Close()
		return nil, fmt.Errorf("relay %s: EHLO: %w", r.Addr, err)
	}
	if r.Username != "" {
		if _, isTLS := c.TLSConnectionState(); !isTLS && !r.AllowInsecureAuth {
			c.Close()
			return nil, temporary(fmt.Errorf("relay %s: refusing AUTH without TLS", r.Addr))
		}
		var mech sasl.Client
		switch {
		case c.SupportsAuth(sasl.Plain):
			mech = sasl.NewPlainClient("", r.Username, r.Password)
		case c.SupportsAuth(sasl.Login):
			mech = sasl.NewLoginClient(r.Username, r.Password)
		default:
			c.Close()
			return nil, temporary(fmt.Errorf("relay %s offers neither AUTH PLAIN nor AUTH LOGIN", r.Addr))
		}
		if err := c.Auth(mech); err != nil {
			c.Close()
			// A refused login is the relay's configuration, not the
			// message's fault: retried like an outage, never dead at once.
			return nil, temporary(fmt.Errorf("relay %s: AUTH: %w", r.Addr, err))
		}
	}
	return c, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !isASCII(s) {
			return false
		}
	}
	return true
}
