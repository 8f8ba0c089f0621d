// Package ftpd is Ferry's FTP service: the control layer in front of
// ftpserverlib and a driver for it that authenticates partners' accounts
// and hands each session its partner's tree from the file core (package
// files). It holds no file behaviour or file rules of its own: behaviour
// lives in vfs, the rules of an operation (audit, quota, publish, alerts) in
// files; ftpd maps their outcomes to replies and logs.
package ftpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/files"
	"github.com/ferryhq/ferry/internal/connlimit"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// Authenticator checks logins; partners.Service implements it.
type Authenticator interface {
	// Authenticate verifies a username and password from remote.
	Authenticate(ctx context.Context, username, password string, remote netip.Addr) (*partners.Login, error)
	// TLSRequired reports whether username must switch to TLS before PASS.
	TLSRequired(ctx context.Context, username string) (bool, error)
}

// Server serves FTP on the listeners given to Serve. Configure the fields,
// then call Serve; Shutdown stops it. A Server serves one kind of listener:
// set Implicit for implicit FTPS (TLS from the first byte).
type Server struct {
	Auth      Authenticator
	FilesDir  string      // root of every partner's tree: <FilesDir>/<partner slug>
	TLSConfig *tls.Config // enables AUTH TLS; required for Implicit
	Implicit  bool

	PassivePorts [2]int // inclusive range; zero lets the kernel choose
	// KeepPassivePorts keeps the ports of PassivePorts open between
	// transfers: a transfer then costs no socket, bind, listen and close of
	// its own. A port once used stays open until Shutdown, so the range must
	// not be shared with another Server (each would end up holding ports
	// the other needs). With the control listener on all interfaces the
	// engine keeps them, shared by the sessions (each PASV/EPSV reserves one
	// for the client's address); with the control listener on one address
	// (127.0.0.1) Ferry keeps them on that address, one transfer at a time
	// per port (see keptPorts; Linux only, elsewhere each transfer listens
	// on a port of its own).
	KeepPassivePorts bool
	PublicHost       string // IPv4 announced in PASV replies; empty: the control connection's local address
	Banner           string
	IdleTimeout      time.Duration
	DeflateLevel     int // MODE Z level; 0 disables MODE Z
	Logger           *slog.Logger

	// NoSync publishes uploads without syncing them to disk first (see
	// vfs.Atomic.NoSync).
	NoSync bool
	// AVBLDiskSpace lets AVBL report the data volume's free space for a
	// partner without a quota (refused otherwise: it describes the
	// server's disk). Partners with a quota are told what it leaves free.
	AVBLDiskSpace bool

	// Store records the audit log and partner quota usage; nil records
	// nothing and enforces no quota.
	Store *store.Store
	// Guard turns banned addresses away and counts failed logins.
	Guard Guard
	// OnUpload runs in the transaction that completes each upload.
	OnUpload files.UploadHook
	// OnFile is told of each successful download and delete (webhooks).
	OnFile files.FileHook
	// UploadKeys applies partners' encrypt_uploads and verify_uploads in
	// the file core (files.Service.Keys); nil: off.
	UploadKeys files.UploadKeys

	MaxSessions           int // all sessions of this server; 0: no limit
	MaxSessionsPerIP      int // per client address; 0: no limit
	MaxSessionsPerAccount int // per account; 0: no limit
	// LoginTimeout closes a connection that has not logged in this long
	// after connecting, however much it sends, with the engine's 421
	// timeout reply; 0: only IdleTimeout applies.
	LoginTimeout time.Duration

	mu       sync.Mutex
	engine   *ftpserver.FtpServer
	sessions map[uint32]*session
	conns    map[string]net.Conn // admitted connections by remote address, to kick them
	controls map[string]*controlConn
	// bareEngine serves connections straight from the engine, without the
	// control layer: the reference of the benchmarks only (see
	// export_test.go).
	bareEngine bool
	// transferClosed, when set, runs after a transfer is counted out and
	// before the engine writes its final reply: tests hold it there to
	// check that nothing ends the session in between (see export_test.go).
	transferClosed func()
	closing        bool
	served         chan struct{} // closed when Serve returns
	kept           *keptPorts    // Serve's passive ports on the control address, closed by Shutdown
	rows           *store.AuditWriter
	bufs           sync.Pool // *[]byte of copyBuffer bytes, for transfers (see copy)
}

// quietClosed is the engine's log handler. When Ferry closes a session's
// socket (a kick from the web admin or the API, a revalidation, Shutdown),
// the engine's own close of that connection then fails with net.ErrClosed,
// which it logs as a warning: an expected close, logged at DEBUG instead.
type quietClosed struct{ slog.Handler }

func (h quietClosed) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && recordErrIs(r, net.ErrClosed) {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietClosed) WithAttrs(as []slog.Attr) slog.Handler {
	return quietClosed{h.Handler.WithAttrs(as)}
}
func (h quietClosed) WithGroup(name string) slog.Handler {
	return quietClosed{h.Handler.WithGroup(name)}
}

// recordErrIs reports whether an error attribute of r matches target.
func recordErrIs(r slog.Record, target error) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && errors.Is(err, target) {
			found = true
		}
		return !found
	})
	return found
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("ftpd: server closed")

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// placeWait is how long a connection over a session limit waits for a
// place before 421: a client that closes a session and opens the next at
// once (many do not wait for the reply to QUIT) takes the place its last
// session frees.
const placeWait = time.Second

// Serve accepts FTP connections on ln until Shutdown. It always returns a
// non-nil error; after Shutdown it is ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	if s.Auth == nil || s.FilesDir == "" {
		return errors.New("ftpd: Auth and FilesDir are required")
	}
	if s.Guard != nil {
		reject := "421 Your address is temporarily banned after repeated failed logins\r\n"
		if s.Implicit {
			reject = "" // the client expects a TLS handshake, not a reply
		}
		ln = bans.Listener(ln, s.banCheck, reject, s.logger())
	}
	limits := connlimit.Options{Max: s.MaxSessions, MaxPerAddr: s.MaxSessionsPerIP, LoginTimeout: s.LoginTimeout,
		Wait: placeWait, Logger: s.logger(), Track: func(c *connlimit.Conn, open bool) { s.track(c, open) }}
	if !s.Implicit { // implicit FTPS clients expect a TLS handshake, not a reply
		limits.Refuse = func(reason string) string { return "421 " + reason + "\r\n" }
	}
	ln = connlimit.New(ln, limits)
	if s.Implicit && s.TLSConfig == nil {
		return errors.New("ftpd: implicit FTPS needs a TLS config")
	}
	switch {
	case !s.bareEngine:
		ln = &controlListener{Listener: ln, srv: s, implicit: s.Implicit}
	case s.Implicit:
		ln = tls.NewListener(ln, s.TLSConfig)
	}
	d := &driver{srv: s, listener: ln, passiveIP: boundIP(ln.Addr())}
	if d.passiveIP != nil && s.KeepPassivePorts && s.PassivePorts[0] > 0 && canStopListening {
		d.kept = newKeptPorts(d.passiveIP, s.PassivePorts[0], s.PassivePorts[1], s.logger())
	}
	engine := ftpserver.NewFtpServer(d)
	engine.Logger = slog.New(quietClosed{s.logger().Handler()}).With("engine", "ftpserverlib")

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.engine != nil {
		s.mu.Unlock()
		return errors.New("ftpd: Serve called twice")
	}
	s.engine, s.kept = engine, d.kept
	s.served = make(chan struct{})
	if s.sessions == nil {
		s.sessions = map[uint32]*session{}
	}
	s.mu.Unlock()
	defer close(s.served)

	if err := engine.Listen(); err != nil {
		return fmt.Errorf("ftpd: %w", err)
	}
	// Only what the writer needs is read here: the rest of the settings
	// are read per session.
	rows := (&files.Service{Store: s.Store, OnFile: s.OnFile, Logger: s.logger()}).Writer()
	s.mu.Lock()
	if s.Store != nil && !s.closing {
		s.rows = rows
		s.rows.Start()
	}
	s.mu.Unlock()
	err := engine.Serve()
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return ErrServerClosed
	}
	if err == nil {
		err = errors.New("listener closed")
	}
	return fmt.Errorf("ftpd: %w", err)
}

// Shutdown stops accepting connections, closes idle sessions at once, lets
// sessions with a transfer in progress finish it until ctx is done, and
// then closes whatever is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	engine, served, rows, kept := s.engine, s.served, s.rows, s.kept
	s.mu.Unlock()
	if engine == nil {
		return nil
	}
	if kept != nil {
		defer kept.close() // once the sessions are gone
	}
	if rows != nil {
		// Last, once the sessions have written their rows.
		defer func() {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := rows.Close(wctx); err != nil {
				s.logger().Warn("audit rows left unwritten at shutdown", "err", err)
			}
		}()
	}
	if err := engine.Stop(); err != nil && !errors.Is(err, ftpserver.ErrNotListening) {
		s.logger().Warn("stop FTP listener", "err", err)
	}
	<-served
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			s.closeAll()
			return fmt.Errorf("ftpd: shutdown: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// closeIdle closes sessions that are waiting for their next command and
// returns how many sessions remain.
func (s *Server) closeIdle() int {
	s.mu.Lock()
	var idle []*session
	for _, sess := range s.sessions {
		if !sess.busy() {
			idle = append(idle, sess)
		}
	}
	n := len(s.sessions)
	s.mu.Unlock()
	// Kicking closes a socket, which calls back into track: not under mu.
	for _, sess := range idle {
		sess.kick()
	}
	return n
}

func (s *Server) closeAll() {
	s.mu.Lock()
	all := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	for _, sess := range all {
		sess.kick()
	}
}

// track remembers admitted connections so a session can be closed by
// closing its socket: the engine then ends the session on its own
// goroutine (its ClientContext.Close is not safe to call from another one).
func (s *Server) track(c net.Conn, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[string]net.Conn{}
	}
	key := c.RemoteAddr().String()
	if open {
		s.conns[key] = c
	} else if s.conns[key] == c {
		delete(s.conns, key)
	}
}

func (s *Server) connOf(remote net.Addr) net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[remote.String()]
}

// banCheck refuses banned addresses only: when the ban lookup itself
// fails the client is let in (its login needs the database anyway).
func (s *Server) banCheck(ctx context.Context, ip netip.Addr) error {
	err := s.Guard.Check(ctx, ip)
	if err != nil && !errors.Is(err, bans.ErrBanned) {
		s.logger().Error("ban check failed; letting the client in", "ip", ip, "err", err)
		return nil
	}
	return err
}

// SessionInfo describes a live session.
type SessionInfo struct {
	ID          uint32
	RemoteAddr  string
	Username    string // empty before login
	PartnerSlug string
	Started     time.Time
	TLS         bool
	AccountID   string
	Transfers   int64  // transfers running now
	Current     string // the file being transferred, if any
	Bytes       int64  // bytes moved by the session's transfers so far
}

// Sessions lists the live sessions.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SessionInfo, 0, len(s.sessions))
	for _, sess := range s.sessions {
		if !sess.kicked.Load() { // closing: no longer live
			out = append(out, sess.info())
		}
	}
	return out
}

// Kick closes a session; it reports whether a live session had that ID (a
// session already kicked, still closing, has not).
func (s *Server) Kick(id uint32) bool {
	s.mu.Lock()
	sess, ok := s.sessions[id]
	s.mu.Unlock()
	return ok && sess.kick()
}

// KickAccount closes every session of an account (after it is disabled or
// deleted) and returns how many it closed.
func (s *Server) KickAccount(accountID string) int {
	s.mu.Lock()
	var victims []*session
	for _, sess := range s.sessions {
		if l := sess.loginInfo(); l != nil && l.AccountID == accountID {
			victims = append(victims, sess)
		}
	}
	s.mu.Unlock()
	n := 0
	for _, v := range victims {
		if v.kick() {
			n++
		}
	}
	return n
}

// RevalidateSessions closes the sessions whose account or partner changed
// since they logged in — disabled, deleted, a new password, other
// permissions, home, TLS policy or address ranges — by any node, through any
// front end, and returns how many it closed. Run it every few seconds.
func (s *Server) RevalidateSessions(ctx context.Context) (int, error) {
	if s.Store == nil {
		return 0, nil
	}
	s.mu.Lock()
	var (
		live   []*session
		logins []*partners.Login
	)
	for _, sess := range s.sessions {
		if l := sess.loginInfo(); l != nil {
			live, logins = append(live, sess), append(logins, l)
		}
	}
	s.mu.Unlock()
	stale, err := partners.Stale(ctx, s.Store, logins, 0)
	if err != nil {
		return 0, fmt.Errorf("ftpd: revalidate sessions: %w", err)
	}
	for _, i := range stale {
		s.logger().Info("closing a session whose account or partner changed", "session", live[i].cc.ID(),
			"user", logins[i].Username)
		live[i].kick()
	}
	return len(stale), nil
}
