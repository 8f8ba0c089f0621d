package ftpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/vfs"
)

// driver is the ftpserverlib MainDriver of one Serve call.
type driver struct {
	srv      *Server
	listener net.Listener
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
		ConnectionTimeout:       30,
		ActiveTransferPortNon20: true, // binding port 20 needs root; RFC 1579 allows any port
		EnableHASH:              true,
		DeflateCompressionLevel: s.DeflateLevel,
		// FTP-bounce protection: data connections, passive and active, must
		// come from / go to the control connection's peer.
		ActiveConnectionsCheck: ftpserver.IPMatchRequired,
		PasvConnectionsCheck:   ftpserver.IPMatchRequired,
	}
	if s.PassivePorts[0] > 0 {
		st.PassiveTransferPortRange = ftpserver.PortRange{Start: s.PassivePorts[0], End: s.PassivePorts[1]}
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
	sess := &session{cc: cc, started: time.Now()}
	d.srv.mu.Lock()
	closing := d.srv.closing
	if !closing {
		d.srv.sessions[cc.ID()] = sess
	}
	d.srv.mu.Unlock()
	if closing {
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
		return errors.New("temporary failure, try again later")
	}
	if !required {
		return nil
	}
	if !cc.HasTLSForControl() {
		return errors.New("this account requires TLS: connect with explicit FTPS (AUTH TLS) or implicit FTPS")
	}
	// Data connections must be protected too (PROT P).
	return cc.SetTLSRequirement(ftpserver.MandatoryEncryption)
}

func (d *driver) AuthUser(cc ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	ctx, cancel := context.WithTimeout(context.Background(), authTimeout)
	defer cancel()
	log := d.srv.logger().With("session", cc.ID(), "remote", cc.RemoteAddr().String(), "user", user)
	remote := addrOf(cc.RemoteAddr())
	login, err := d.srv.Auth.Authenticate(ctx, user, pass, remote)
	if err != nil {
		var ae *partners.AuthError
		if errors.As(err, &ae) {
			log.Warn("FTP login failed", "reason", ae.Reason)
			return nil, errors.New("login incorrect")
		}
		log.Error("FTP login error", "err", err)
		return nil, errors.New("temporary failure, try again later")
	}
	if login.TLSRequired && !cc.HasTLSForControl() {
		log.Warn("FTP login refused: TLS required")
		return nil, errors.New("this account requires TLS")
	}
	root, err := vfs.OpenRoot(filepath.Join(d.srv.FilesDir, login.PartnerSlug))
	if err != nil {
		log.Error("open partner tree", "err", err)
		return nil, errors.New("temporary failure, try again later")
	}
	sess, _ := cc.Extra().(*session)
	if sess == nil {
		root.Close()
		return nil, errors.New("session state lost")
	}
	if err := root.MkdirAll(login.HomeDir, 0o750); err != nil {
		root.Close()
		log.Error("create home folder", "home", login.HomeDir, "err", err)
		return nil, errors.New("temporary failure, try again later")
	}
	fs := vfs.NewPerms(vfs.NewJail(root, login.HomeDir), login.Perms)
	sess.setLogin(login, root)
	log.Info("FTP login", "partner", login.PartnerSlug, "tls", cc.HasTLSForControl())
	return &clientDriver{Fs: fs, sess: sess, filesDir: d.srv.FilesDir}, nil
}

func (d *driver) QuitMessage() string { return "Goodbye" }

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func (d *driver) String() string { return fmt.Sprintf("ftpd driver on %s", d.listener.Addr()) }
