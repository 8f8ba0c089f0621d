package main

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/ferryhq/ferry/config"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/mailbox/smtp"
	"github.com/ferryhq/ferry/notify"
)

// mailStore returns the partner mailbox store, built once and shared by the
// mail listeners and the notifier (so that IMAP IDLE in this process sees
// alerts arrive).
func mailStore(d *deps) *mailbox.Store {
	if d.mail == nil {
		d.mail = &mailbox.Store{DB: d.store, Dir: filepath.Join(d.cfg.DataDir, "mail"),
			MaxMessageBytes: smtp.DefaultMaxMessageBytes, Logger: d.log.With("component", "mailbox"),
			// Signed mail is checked on delivery against the sender's
			// registered keys (Ferry's own for its alert copies).
			Verifier: d.keys()}
		if d.outbox != nil {
			d.mail.OnReceived = d.outbox.OnMailReceived // webhooks: mail.received
		}
	}
	return d.mail
}

// uploadMailSpacing is the least time between two upload mails of a
// partner without a digest: a burst of uploads is mailed a second at a
// time (notify.Outbox.UploadSpacing).
const uploadMailSpacing = time.Second

// newOutbox builds the notification outbox every finished upload writes to
// (the FTP servers' OnUpload), and the API's notification endpoints use.
func newOutbox(d *deps) *notify.Outbox {
	return &notify.Outbox{Store: d.store, Domain: d.cfg.MailDomain, Digest: d.cfg.NotifyDigest,
		UploadSpacing: uploadMailSpacing, QuotaThresholds: d.cfg.QuotaAlerts,
		AllowPrivateWebhooks: d.cfg.WebhookAllowPrivate}
}

// newNotifier checks the mail settings and builds the notifier, which
// housekeeping runs.
func newNotifier(d *deps) (*notify.Notifier, error) {
	cfg := d.cfg
	log := d.log.With("component", "notify")
	tpl, err := notify.LoadTemplates(cfg.NotifyTemplates)
	if err != nil {
		return nil, &config.Error{Key: "FERRY_NOTIFY_TEMPLATES", Source: "configuration", Err: err}
	}
	n := &notify.Notifier{Outbox: d.outbox, Mailbox: mailStore(d), MailDomain: cfg.MailDomain, From: cfg.MailFrom,
		Operators: cfg.OperatorEmails, Templates: tpl, Logger: log,
		// Signed per FERRY_MAIL_SIGN, encrypted to registered keys.
		Sealer: d.identity, Sign: cfg.MailSign, Keys: d.keys()}
	if cfg.SMTPRelay != "" {
		r, err := notify.ParseRelay(cfg.SMTPRelay)
		if err != nil {
			return nil, &config.Error{Key: "FERRY_SMTP_RELAY", Source: "configuration", Err: err}
		}
		r.LocalName = cfg.MailDomain
		n.Relay = r
		log.Info("upload alerts go to partner contacts through the relay and to partner mailboxes", "relay", r.String(),
			"digest", cfg.NotifyDigest)
	} else {
		log.Warn("FERRY_SMTP_RELAY is not set: upload alerts go only to partner mailboxes")
	}
	return n, nil
}

// newWebhookSender builds the webhook deliverer, which housekeeping runs.
func newWebhookSender(d *deps) (*notify.WebhookSender, error) {
	cfg := d.cfg
	w := &notify.WebhookSender{Outbox: d.outbox, AllowPrivate: cfg.WebhookAllowPrivate,
		Logger: d.log.With("component", "webhooks")}
	if cfg.WebhookCACerts != "" {
		pem, err := os.ReadFile(cfg.WebhookCACerts)
		if err != nil {
			return nil, &config.Error{Key: "FERRY_WEBHOOK_CA_CERTS", Source: "configuration", Err: err}
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &config.Error{Key: "FERRY_WEBHOOK_CA_CERTS", Source: "configuration",
				Err: errors.New(cfg.WebhookCACerts + " holds no PEM certificate")}
		}
		w.RootCAs = pool
	}
	if cfg.WebhookAllowPrivate {
		w.Logger.Warn("FERRY_WEBHOOK_ALLOW_PRIVATE is on: webhooks may reach loopback and private addresses")
	}
	return w, nil
}
