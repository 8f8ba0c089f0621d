package main

import (
	"log/slog"
	"strings"

	"github.com/ferryhq/ferry/config"
)

// Descriptors one connection may hold at once: FTP its control and data
// connections and the file it transfers; mail its connection and a
// message blob.
const (
	fdsPerFTPSession = 3
	fdsPerMailConn   = 2
	// fdsReserve covers the HTTP listener and its clients, the database
	// pool, logs and the process's own files.
	fdsReserve = 512
)

// fdsNeeded estimates how many descriptors the configured connection
// limits let Ferry use at once; unbounded names the listeners without a
// limit, whose use nothing bounds.
func fdsNeeded(cfg config.Config) (need int, unbounded []string) {
	need = fdsReserve
	for _, l := range []struct {
		name, addr string
		max, per   int
	}{
		{"ftp", cfg.FTPAddr, cfg.FTPMaxSessions, fdsPerFTPSession},
		{"ftps", cfg.FTPSAddr, cfg.FTPMaxSessions, fdsPerFTPSession},
		{"smtp", cfg.SMTPAddr, cfg.MailMaxConnections, fdsPerMailConn},
		{"imap", cfg.IMAPAddr, cfg.MailMaxConnections, fdsPerMailConn},
		{"pop3", cfg.POP3Addr, cfg.MailMaxConnections, fdsPerMailConn},
	} {
		if l.addr == "" {
			continue
		}
		if l.max == 0 {
			unbounded = append(unbounded, l.name)
			continue
		}
		need += l.max * l.per
	}
	if cfg.FTPAddr != "" || cfg.FTPSAddr != "" {
		need += cfg.FTPPassivePorts.End - cfg.FTPPassivePorts.Start + 1 // passive listeners kept open
	}
	return need, unbounded
}

// checkFileLimit raises the soft limit on open descriptors to the hard
// limit (Go's runtime does so on start too; this makes it explicit and
// logged) and warns when it is still below what the connection limits
// allow: past it, accept fails for every protocol at once ("too many open
// files") instead of the one over-busy listener refusing politely.
func checkFileLimit(log *slog.Logger, cfg config.Config) {
	soft, hard, err := raiseFileLimit()
	if err != nil {
		log.Warn("cannot raise the open file limit", "err", err)
		if soft == 0 {
			return
		}
	}
	need, unbounded := fdsNeeded(cfg)
	log.Info("open file limit", "soft", soft, "hard", hard, "needed_by_connection_limits", need)
	if len(unbounded) > 0 {
		log.Warn("listeners without a connection limit: nothing keeps them from using up the open file limit",
			"listeners", strings.Join(unbounded, ","), "limit", soft)
	}
	if soft < uint64(need) {
		log.Warn("open file limit too low for the configured connection limits: raise the hard limit "+
			"(ulimit -n, systemd LimitNOFILE=, docker --ulimit nofile=) or lower FERRY_FTP_MAX_SESSIONS and FERRY_MAIL_MAX_CONNECTIONS",
			"limit", soft, "needed", need)
	}
}
