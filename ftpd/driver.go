package ftpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/ferryhq/ferry/internal/connlimit"
	"github.com/ferryhq/ferry/internal/netaddr"
	"github.com/ferryhq/ferry/internal/stack"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// driver is the ftpserverlib MainDriver of one Serve call.
type driver struct {
	srv      *Server
	listener net.Listener
	// passiveIP is the control listener's address when it is bound to
	// one; passive listeners then bind there too (see WrapPassiveListener).
	passiveIP net.IP
	// kept holds the passive ports kept open on passiveIP, when the server
	// keeps its ports (see keptPorts); nil otherwise.
	kept *keptPorts
}

var (
	_ ftpserver.MainDriver                      = (*driver)(nil)
	_ ftpserver.MainDriverExtensionUserVerifier = (*driver)(nil)
	_ ftpserver.MainDriverExtensionQuitMessage  = (*driver)(nil)
)

// authTimeout bounds the database work of one login.
const authTimeout = 30 * time.Second

func (d *driver) GetSettings() (*ftpserver.Settings, error) {
	s := d.srv
	st := &ftpserver.Settings{
		Listener:                d.listener,
		PublicHost:              s.PublicHost,
		Banner:                  s.Banner,
		IdleTimeout:             int(s.IdleTimeout / time.Second),
		ConnectionTimeout:       int(dataConnTimeout / time.Second),
		ActiveTransferPortNon20: true, // binding port 20 needs root; RFC 1579 allows any port
		EnableHASH:              true,
		// The control layer answers TYPE, STRU and MODE and converts in
		// the driver (ftpd/repr): the engine sends and stores bytes as
		// they are, in MODE S (its own MODE Z, raw deflate, stays off).
		DisableASCIIConversion: !s.bareEngine,
		// FTP-bounce protection: data connections, passive and active, must
		// come from / go to the control connection's peer.
		ActiveConnectionsCheck: ftpserver.IPMatchRequired,
		PasvConnectionsCheck:   ftpserver.IPMatchRequired,
	}
	// On a control listener bound to one address with kept ports, the
	// engine gets no range: the port it listens on for a moment is the
	// kernel's choice, the announced one comes from d.kept.
	if s.PassivePorts[0] > 0 && d.kept == nil {
		st.PassiveTransferPortRange = passivePorts{start: s.PassivePorts[0], end: s.PassivePorts[1]}
		// The engine's shared passive listeners bind all interfaces, and
		// nothing can move them: they serve a control listener on all of
		// them only.
		st.PassiveTransferPortMultiplexing = s.KeepPassivePorts && d.passiveIP == nil
	}
	if s.Implicit {
		st.TLSRequired = ftpserver.ImplicitEncryption
	}
	return st, nil
}

func (d *driver) GetTLSConfig() (*tls.Config, error) {
	if d.srv.TLSConfig == nil {
		return nil, errors.New("TLS is not configured on this server")
	}
	return d.srv.TLSConfig, nil
}

func (d *driver) ClientConnected(cc ftpserver.ClientContext) (string, error) {
	stack.Grow() // the session's goroutine is new; logging in goes deep into the store
	ctx, cancel := context.WithCancel(context.Background())
	sess := &session{cc: cc, started: time.Now(), ctx: ctx, cancel: cancel, conn: d.srv.connOf(cc.RemoteAddr()),
		ctl: d.srv.controlOf(cc.RemoteAddr())}
	if sess.ctl != nil {
		sess.ctl.session.Store(sess)
	}
	d.srv.mu.Lock()
	closing := d.srv.closing
	if !closing {
		d.srv.sessions[cc.ID()] = sess
	}
	d.srv.mu.Unlock()
	if closing {
		cancel()
		return "Service not available, closing control connection", errors.New("shutting down")
	}
	cc.SetExtra(sess)
	return d.srv.Banner, nil
}

func (d *driver) ClientDisconnected(cc ftpserver.ClientContext) {
	d.srv.mu.Lock()
	sess := d.srv.sessions[cc.ID()]
	delete(d.srv.sessions, cc.ID())
	d.srv.mu.Unlock()
	if sess != nil {
		sess.close()
	}
}

// PreAuthUser refuses a TLS-only account on a plain connection before the
// client sends its password in clear.
func (d *driver) PreAuthUser(cc ftpserver.ClientContext, user string) error {
	ctx, cancel := context.WithTimeout(context.Background(), authTimeout)
	defer cancel()
	required, err := d.srv.Auth.TLSRequired(ctx, user)
	if err != nil {
		d.srv.logger().Error("TLS policy lookup", "user", user, "err", err)
		return errTemporary
	}
	if !required {
		return nil
	}
	sess, _ := cc.Extra().(*session)
	if sess == nil || !sess.controlTLS() {
		return errors.New("this account requires TLS: connect with explicit FTPS (AUTH TLS) or implicit FTPS")
	}
	if sess.ctl != nil {
		// The control layer terminates TLS: the engine, which sees a
		// plain connection, would refuse USER (421) with the requirement
		// set. PROT P is required by the layer (PROT C is refused) and by
		// the driver (checkProtection) instead.
		return nil
	}
	// Data connections must be protected too (PROT P).
	return cc.SetTLSRequirement(ftpserver.MandatoryEncryption)
}

// errTemporary is what a client sees when Ferry itself failed (the
// database cannot be reached, say). The engine answers a login that failed
// with 530; the control layer turns a 530 carrying this text into 421
// (replyStream.temporary), so clients retry instead of taking the
// credentials for wrong.
var errTemporary = errors.New("temporary failure, try again later")

func (d *driver) AuthUser(cc ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	sess, _ := cc.Extra().(*session)
	if sess == nil {
		return nil, errors.New("session state lost")
	}
	ctx, cancel := context.WithTimeout(sess.ctx, authTimeout)
	defer cancel()
	log := d.srv.logger().With("session", cc.ID(), "remote", cc.RemoteAddr().String(), "user", user)
	remote := netaddr.Of(cc.RemoteAddr())
	row := sess.record(store.OpLogin, "")
	row.Username = user
	login, err := d.srv.Auth.Authenticate(ctx, user, pass, remote)
	if err != nil {
		var ae *partners.AuthError
		if errors.As(err, &ae) {
			log.Warn("FTP login failed", "reason", ae.Reason)
			if d.srv.Guard != nil {
				d.srv.Guard.Failure(ctx, remote, sess.protocol(), user)
			}
			d.srv.audit(row, err)
			return nil, errors.New("login incorrect")
		}
		log.Error("FTP login error", "err", err)
		return nil, errTemporary
	}
	row.PartnerID, row.AccountID = store.StrPtr(login.PartnerID), store.StrPtr(login.AccountID)
	if login.TLSRequired && !sess.controlTLS() {
		log.Warn("FTP login refused: TLS required")
		d.srv.audit(row, errors.New("TLS required"))
		return nil, errors.New("this account requires TLS")
	}
	if max := d.srv.MaxSessionsPerAccount; max > 0 && d.srv.accountSessions(login.AccountID) >= max {
		log.Warn("FTP login refused: session limit of the account", "limit", max)
		d.srv.audit(row, fmt.Errorf("more than %d sessions", max))
		return nil, fmt.Errorf("too many sessions for this account (limit %d)", max)
	}
	// The session's view: permissions over the account's home over the
	// partner's quota over atomic uploads over the partner tree.
	tree, err := d.srv.files().Open(sess.ctx, sess.principal(login))
	if err != nil {
		log.Error("open partner tree", "home", login.HomeDir, "err", err)
		return nil, errTemporary
	}
	tree.Published = func(t *store.Transfer) { sess.logTransfer(d.srv, t) }
	if d.srv.Guard != nil {
		d.srv.Guard.Success(ctx, remote, user)
	}
	sess.setLogin(login, tree)
	if c := connlimit.Of(sess.conn); c != nil {
		c.LoggedIn() // LoginTimeout no longer applies
	}
	d.srv.audit(row, nil)
	log.Info("FTP login", "partner", login.PartnerSlug, "tls", sess.controlTLS())
	return &clientDriver{Fs: tree.Fs(), tree: tree, sess: sess, srv: d.srv}, nil
}

func (s *Server) accountSessions(accountID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sess := range s.sessions {
		if l := sess.loginInfo(); l != nil && l.AccountID == accountID {
			n++
		}
	}
	return n
}

func (d *driver) QuitMessage() string { return "Goodbye" }

func (d *driver) String() string { return fmt.Sprintf("ftpd driver on %s", d.listener.Addr()) }
