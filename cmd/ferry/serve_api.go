package main

import (
	"strconv"
	"strings"

	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/internal/httpserver"
	"github.com/ferryhq/ferry/portal"
	"github.com/ferryhq/ferry/sessions"
	"github.com/ferryhq/ferry/web"
)

// apiListeners returns the HTTP listener, or none when FERRY_HTTP_ADDR is
// empty: one ServeMux with the admin API (/api/, /healthz, /readyz,
// /metrics), the partner portal (/portal/) and the web admin (every other
// path) side by side, on the same service layer. No front end imports
// another.
func apiListeners(d *deps) []listener {
	if d.cfg.HTTPAddr == "" && d.cfg.HTTPSAddr == "" {
		return nil
	}
	live := newFTPSessions(d.ftp)
	apiSrv := &api.Server{
		Store: d.store, Partners: d.partners, Sessions: live,
		AdminToken: d.cfg.AdminToken, Logger: d.log.With("component", "api"),
		// Behind a reverse proxy the client is named by X-Forwarded-For.
		TrustedProxies: d.cfg.TrustedProxies,
		// The notification, ban and mailbox endpoints; each nil one answers
		// 503 "not configured". mailStore builds the mailbox store shared
		// with the mail listeners and the notifier (they may come later).
		Outbox: d.outbox, Bans: d.guard, Mail: mailStore(d), Audit: d.audit,
		Identity: d.identity, MailSign: d.cfg.MailSign,
		// Ready stays nil: runServers binds every listener before serving
		// any, and stops them all when one fails, so while /readyz answers
		// the other listeners are up.
	}
	// The listener is plain HTTP; the web's cookie is Secure on TLS
	// requests, and on every request with FERRY_WEB_SECURE_COOKIE (a
	// TLS-terminating proxy).
	webSrv := &web.Server{
		Store: d.store, Partners: d.partners, Files: d.files(), Sessions: live, Outbox: d.outbox, Mail: mailStore(d),
		Guard: d.guard, AdminToken: d.cfg.AdminToken, Logger: d.log.With("component", "web"),
		Secure: d.cfg.WebSecureCookie, TrustedProxies: d.cfg.TrustedProxies,
		Identity: d.identity, MailSign: d.cfg.MailSign,
	}
	if d.cfg.AdminToken != "" {
		d.log.Info("admin API accepts FERRY_ADMIN_TOKEN as an admin token")
	}
	// The partner portal (/portal/): partners' staff sign in with their
	// FTP account and work on the same files through the same file core,
	// and read the partner's mailbox (accounts with the mail permission).
	portalSrv := &portal.Server{
		Store: d.store, Partners: d.partners, Files: d.files(), Guard: d.guard, Mail: mailStore(d),
		Submission: submission(d), Logger: d.log.With("component", "portal"),
		// The web admin's read-only "view as" links: its sessions decide.
		ViewAs: webSrv.Admin, TrustedProxies: d.cfg.TrustedProxies,
	}
	mux := httpserver.Mux(apiSrv.Handler(), webSrv.Handler())
	mux.Handle(portal.Prefix, portalSrv.Handler())
	var ls []listener
	if d.cfg.HTTPAddr != "" {
		ls = append(ls, listener{name: "http", addr: d.cfg.HTTPAddr, srv: &httpserver.Server{Handler: mux, Logger: d.log.With("component", "http")}})
	}
	if d.cfg.HTTPSAddr != "" {
		// The same mux over TLS with Ferry's certificate: the portal and
		// the web admin without a proxy in front.
		ls = append(ls, listener{name: "https", addr: d.cfg.HTTPSAddr,
			srv: &httpserver.Server{Handler: mux, TLSConfig: d.tls, Logger: d.log.With("component", "https")}})
	}
	return ls
}

// ftpSessions shows the sessions of several FTP servers to the API as one
// list. A session's ID is its server's name and its engine ID ("ftp-12",
// "ftps-3"), since each server numbers its sessions from 1.
type ftpSessions struct {
	servers []namedFTP
}

type namedFTP struct {
	name string
	srv  *ftpd.Server
}

var _ sessions.Control = (*ftpSessions)(nil)

func newFTPSessions(servers []*ftpd.Server) *ftpSessions {
	f := &ftpSessions{}
	seen := map[string]int{}
	for _, s := range servers {
		name := "ftp"
		if s.Implicit {
			name = "ftps"
		}
		if seen[name]++; seen[name] > 1 {
			name += strconv.Itoa(seen[name])
		}
		f.servers = append(f.servers, namedFTP{name: name, srv: s})
	}
	return f
}

func (f *ftpSessions) Sessions() []sessions.Info {
	var out []sessions.Info
	for _, n := range f.servers {
		for _, s := range n.srv.Sessions() {
			info := sessions.Info{
				ID: n.name + "-" + strconv.FormatUint(uint64(s.ID), 10), Protocol: n.name, RemoteAddr: s.RemoteAddr,
				TLS: s.TLS, Username: s.Username, AccountID: s.AccountID, PartnerSlug: s.PartnerSlug,
				StartedAt: s.Started, Transfers: s.Transfers, Current: s.Current, Bytes: &s.Bytes,
			}
			out = append(out, info)
		}
	}
	return out
}

func (f *ftpSessions) Kick(id string) bool {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return false
	}
	n, err := strconv.ParseUint(id[i+1:], 10, 32)
	if err != nil {
		return false
	}
	for _, s := range f.servers {
		if s.name == id[:i] {
			return s.srv.Kick(uint32(n))
		}
	}
	return false
}

func (f *ftpSessions) KickAccount(accountID string) int {
	n := 0
	for _, s := range f.servers {
		n += s.srv.KickAccount(accountID)
	}
	return n
}
