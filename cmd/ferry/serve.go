package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/config"
	"github.com/ferryhq/ferry/expect"
	"github.com/ferryhq/ferry/files"
	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/internal/proxied"
	"github.com/ferryhq/ferry/internal/tlsutil"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/metrics"
	"github.com/ferryhq/ferry/migrations"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// server is what serve runs: anything shaped like net/http.Server.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// deps is what serve has built that the parts share.
type deps struct {
	cfg      config.Config
	log      *slog.Logger
	store    *store.Store
	partners *partners.Service
	tls      *tls.Config
	ftp      []*ftpd.Server    // the FTP and implicit FTPS servers that are on
	guard    *bans.Guard       // the IP ban every protocol shares
	outbox   *notify.Outbox    // upload and quota alerts, written by every upload
	mail     *mailbox.Store    // partner mailboxes; see mailStore
	audit    *metrics.Audit    // counts the audit rows st writes, for /metrics
	identity *mailsec.Identity // Ferry's own OpenPGP key and S/MIME certificate
	// The IMAP and POP3 servers that are on; housekeeping revalidates their
	// sessions as it does d.ftp's.
	mailSessions []sessionRevalidator
}

// files is the file core over the node's partner trees, with the settings
// every front end shares: recovery and the partial-upload sweep run through
// it, the web admin's file pages work through it.
func (d *deps) files() *files.Service {
	return &files.Service{Store: d.store, FilesDir: d.cfg.FilesDir(), OnUpload: d.outbox.OnUpload, OnFile: d.outbox.OnFiles,
		NoSync: !d.cfg.UploadSync, Logger: d.log.With("component", "files"), Keys: d.keys()}
}

// sessionRevalidator is a server that closes the sessions whose account or
// partner changed since their login.
type sessionRevalidator interface {
	RevalidateSessions(ctx context.Context) (int, error)
}

type listener struct {
	name string
	addr string
	srv  server
}

func (a *app) serve(ctx context.Context, args []string) error {
	c := newCommand("serve", a.stderr)
	cfg, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(c.pos) > 0 {
		return usagef("serve takes no arguments, got %q", c.pos)
	}
	log := newLogger(cfg, a.stderr)
	tuneGC(log)
	checkFileLimit(log, cfg)
	if err := os.MkdirAll(cfg.FilesDir(), 0o750); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	st, err := openStore(ctx, cfg, log.With("component", "migrate"), true)
	if err != nil {
		return err
	}
	defer st.Close()
	if st.Dialect() == migrations.SQLite {
		// Small uploads' intents in a file beside the database: one write
		// before their 226 instead of a transaction (see store.OpenUploadLog).
		moved, unreadable, err := st.OpenUploadLog(ctx, cfg.SQLitePath()+"-uploads")
		switch {
		case errors.Is(err, store.ErrUploadLogInUse):
			log.Warn("another process serves this database: upload intents stay in the database", "err", err)
		case err != nil:
			return fmt.Errorf("upload log: %w", err)
		case moved+unreadable > 0:
			log.Warn("upload intents of a process that stopped moved into the database for recovery",
				"moved", moved, "unreadable", unreadable)
		}
	}
	// The audit log's counters in /metrics, counted as this node writes rows.
	audit := metrics.NewAudit()
	st.CountAuditWith(audit)

	tlsCfg, created, err := tlsutil.Load(cfg.TLSCert, cfg.TLSKey, cfg.DataDir, []string{cfg.FTPPublicHost})
	if err != nil {
		return err
	}
	if created {
		log.Warn("generated a self-signed TLS certificate; set FERRY_TLS_CERT and FERRY_TLS_KEY for a real one",
			"dir", cfg.DataDir)
	}
	// FileZilla and other clients ask the user to compare this with what
	// they were sent.
	log.Info("TLS certificate", "file", tlsutil.CertPath(cfg.TLSCert, cfg.DataDir),
		"sha256", tlsutil.Fingerprint(tlsCfg.Certificates[0].Certificate[0]), "self_signed", cfg.TLSCert == "")

	svc := &partners.Service{Store: st, FilesDir: cfg.FilesDir(), ChecksDone: freeCheckMemory}
	guard := &bans.Guard{Store: st, MaxFailures: cfg.BanMaxFailures, Window: cfg.BanWindow, BanTime: cfg.BanTime,
		Logger: log.With("component", "bans")}
	d := &deps{cfg: cfg, log: log, store: st, partners: svc, tls: tlsCfg, guard: guard, audit: audit}
	if d.identity, err = loadIdentity(d); err != nil {
		return err
	}
	d.outbox = newOutbox(d)
	guard.OnBan = d.outbox.OnBan // webhooks: login.failed_ban
	// Passive ports stay open between transfers when one FTP server has the
	// range to itself; with implicit FTPS beside plain FTP the two share it,
	// so each transfer opens and closes a port of its own.
	keepPassive := cfg.FTPAddr == "" || cfg.FTPSAddr == ""
	ftpServer := func(implicit bool) *ftpd.Server {
		return &ftpd.Server{
			Auth: svc, FilesDir: cfg.FilesDir(), TLSConfig: tlsCfg, Implicit: implicit,
			PassivePorts: [2]int{cfg.FTPPassivePorts.Start, cfg.FTPPassivePorts.End}, KeepPassivePorts: keepPassive,
			PublicHost: cfg.FTPPublicHost, Banner: cfg.FTPBanner, IdleTimeout: cfg.FTPIdleTimeout,
			DeflateLevel: cfg.FTPDeflateLevel, Logger: log.With("component", "ftpd"),
			Store: st, Guard: guard, MaxSessions: cfg.FTPMaxSessions, MaxSessionsPerIP: cfg.FTPMaxSessionsPerIP,
			MaxSessionsPerAccount: cfg.FTPMaxSessionsPerAccount, OnUpload: d.outbox.OnUpload, OnFile: d.outbox.OnFiles,
			NoSync: !cfg.UploadSync, LoginTimeout: cfg.LoginTimeout, AVBLDiskSpace: cfg.FTPAVBLDiskSpace,
			UploadKeys: d.keys(),
		}
	}
	var ls []listener
	if cfg.FTPAddr != "" {
		d.ftp = append(d.ftp, ftpServer(false))
		ls = append(ls, listener{"ftp", cfg.FTPAddr, d.ftp[len(d.ftp)-1]})
	}
	if cfg.FTPSAddr != "" {
		d.ftp = append(d.ftp, ftpServer(true))
		ls = append(ls, listener{"ftps", cfg.FTPSAddr, d.ftp[len(d.ftp)-1]})
	}
	// Each further part (API, mail, ...) adds its listeners here, from its
	// own file in this folder.
	ls = append(ls, apiListeners(d)...)
	ls = append(ls, mailListeners(d)...)
	if len(ls) == 0 {
		return &config.Error{Key: "FERRY_FTP_ADDR", Source: "configuration", Err: errors.New("no listener is enabled")}
	}
	notifier, err := newNotifier(d)
	if err != nil {
		return err
	}
	// The background loops stop with ctx; stop joins them after the
	// servers are shut down, before the store closes.
	hooks, err := newWebhookSender(d)
	if err != nil {
		return err
	}
	hk := newHousekeeping(d, notifier)
	hk.hooks = hooks
	hk.expect = &expect.Evaluator{Store: d.store, Outbox: d.outbox, Logger: log.With("component", "expectations")}
	hk.start(ctx)
	defer hk.stop()
	return runServers(ctx, log, cfg, ls)
}

// runServers listens on every address first (so a port conflict stops
// Ferry before anything is served), serves until ctx is done or one server
// fails, then shuts all down within the grace period.
func runServers(ctx context.Context, log *slog.Logger, cfg config.Config, ls []listener) error {
	var lns []net.Listener
	for _, l := range ls {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			for _, o := range lns {
				o.Close()
			}
			return fmt.Errorf("%s: listen on %s: %w", l.name, l.addr, err)
		}
		log.Info("listening", "service", l.name, "addr", ln.Addr().String())
		if cfg.ProxyProtocolOn(l.name) {
			// Behind a load balancer: the client address comes from the
			// PROXY header, and only FERRY_TRUSTED_PROXIES may connect.
			ln = proxied.New(ln, cfg.TrustedProxies, log.With("service", l.name, "component", "proxy"))
			log.Info("PROXY protocol on", "service", l.name, "trusted", cfg.TrustedProxies)
		}
		lns = append(lns, ln)
	}
	errc := make(chan error, len(ls))
	var wg sync.WaitGroup
	for i, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- fmt.Errorf("%s: %w", l.name, l.srv.Serve(lns[i]))
		}()
	}
	var failure error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "grace", cfg.ShutdownGrace)
	case failure = <-errc:
		log.Error("server failed; shutting down", "err", failure)
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	var swg sync.WaitGroup
	for _, l := range ls {
		swg.Add(1)
		go func() {
			defer swg.Done()
			if err := l.srv.Shutdown(sctx); err != nil {
				log.Warn("shutdown", "service", l.name, "err", err)
			}
		}()
	}
	swg.Wait()
	wg.Wait()
	log.Info("stopped")
	return failure
}
