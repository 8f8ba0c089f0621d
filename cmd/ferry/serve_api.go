package main

import (
	"strconv"
	"strings"

	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/internal/httpserver"
	"github.com/ferryhq/ferry/sessions"
	"github.com/ferryhq/ferry/web"
)

// apiListeners returns the HTTP listener, or none when FERRY_HTTP_ADDR is
// empty: one ServeMux with the admin API (/api/, /healthz, /readyz,
// /metrics) and the web admin (every other path) side by side, on the same
// service layer. Neither front end imports the other.
func apiListeners(d *deps) []listener {
	if d.cfg.HTTPAddr == "" {
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
	srv := &httpserver.Server{Handler: httpserver.Mux(apiSrv.Handler(), webSrv.Handler()),
		Logger: d.log.With("component", "http")}
	return []listener{{name: "http", addr: d.cfg.HTTPAddr, srv: srv}}
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
