package main

import (
	"time"

	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/mailbox/imap"
	"github.com/ferryhq/ferry/mailbox/pop3"
	"github.com/ferryhq/ferry/mailbox/smtp"
)

// mailListeners builds the partner mailbox servers (SMTP in, IMAP and POP3
// out) on one mailbox store; an empty address switches a listener off.
// (Housekeeping runs the store's blob sweep.)
func mailListeners(d *deps) []listener {
	cfg := d.cfg
	if cfg.SMTPAddr == "" && cfg.IMAPAddr == "" && cfg.POP3Addr == "" {
		return nil
	}
	log := d.log.With("component", "mailbox")
	st := mailStore(d) // shared with the notifier
	// The IP ban every protocol shares. A nil *bans.Guard must not become a
	// non-nil interface.
	var guard mailbox.Guard
	if d.guard != nil {
		guard = d.guard
	}
	logins := &mailbox.Logins{Auth: d.partners, Guard: guard, Logger: log}

	var ls []listener
	if cfg.SMTPAddr != "" {
		ls = append(ls, listener{"smtp", cfg.SMTPAddr, &smtp.Server{
			Store: st, Logins: logins, Guard: guard, Domains: []string{cfg.MailDomain}, TLSConfig: d.tls,
			Submission: submission(d),
			Logger:     d.log.With("component", "smtp"), LoginTimeout: cfg.LoginTimeout,
			MaxConns: cfg.MailMaxConnections, MaxConnsPerAddr: cfg.MailMaxConnectionsPerIP,
		}})
	}
	if cfg.IMAPAddr != "" {
		srv := &imap.Server{
			Store: st, Logins: logins, Guard: guard, TLSConfig: d.tls, Logger: d.log.With("component", "imap"),
			LoginTimeout: cfg.LoginTimeout, MaxConns: cfg.MailMaxConnections, MaxConnsPerAddr: cfg.MailMaxConnectionsPerIP,
		}
		d.mailSessions = append(d.mailSessions, srv)
		ls = append(ls, listener{"imap", cfg.IMAPAddr, srv})
	}
	if cfg.POP3Addr != "" {
		srv := &pop3.Server{
			Store: st, Logins: logins, Guard: guard, TLSConfig: d.tls, Domain: cfg.MailDomain,
			AuthFailureDelay: time.Second, Logger: d.log.With("component", "pop3"),
			LoginTimeout: cfg.LoginTimeout, MaxConns: cfg.MailMaxConnections, MaxConnsPerAddr: cfg.MailMaxConnectionsPerIP,
		}
		d.mailSessions = append(d.mailSessions, srv)
		ls = append(ls, listener{"pop3", cfg.POP3Addr, srv})
	}
	return ls
}

// submission is the rule of mail partners send (authenticated SMTP, the
// portal): partner mailboxes at once, the outside domains of
// FERRY_MAIL_OUTBOUND_DOMAINS through the outbox and the relay.
func submission(d *deps) *mailbox.Submission {
	return &mailbox.Submission{Store: mailStore(d), LocalDomains: []string{d.cfg.MailDomain},
		OutboundDomains: d.cfg.MailOutboundDomains, Outbound: d.outbox}
}
