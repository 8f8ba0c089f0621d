package main

import (
	"cmp"
	"net/mail"

	"github.com/ferryhq/ferry/config"
	"github.com/ferryhq/ferry/mailsec"
)

// alertSender is the From of alert mails: FERRY_MAIL_FROM, or
// Ferry <ferry@<mail domain>>, as the notifier uses it.
func alertSender(cfg config.Config) (*mail.Address, error) {
	from := cfg.MailFrom
	if from == "" {
		from = "Ferry <ferry@" + cmp.Or(cfg.MailDomain, "ferry.localhost") + ">"
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return nil, &config.Error{Key: "FERRY_MAIL_FROM", Source: "configuration", Err: err}
	}
	return a, nil
}

// loadIdentity reads Ferry's OpenPGP key and S/MIME certificate, or
// generates them into the data dir on first start (like the TLS
// certificate). Only public fingerprints are logged.
func loadIdentity(d *deps) (*mailsec.Identity, error) {
	from, err := alertSender(d.cfg)
	if err != nil {
		return nil, err
	}
	id, created, err := mailsec.LoadIdentity(mailsec.IdentityOptions{Email: from.Address, Name: cmp.Or(from.Name, "Ferry"),
		DataDir: d.cfg.DataDir, PGPKey: d.cfg.PGPKey, SMIMECert: d.cfg.SMIMECert, SMIMEKey: d.cfg.SMIMEKey})
	if err != nil {
		key := "FERRY_PGP_KEY"
		if d.cfg.PGPKey == "" {
			key = "FERRY_SMIME_CERT"
		}
		return nil, &config.Error{Key: key, Source: "configuration", Err: err}
	}
	if created {
		d.log.Warn("generated Ferry's OpenPGP key and a self-signed S/MIME certificate for alert mail; publish them to partners (GET /api/v1/mail-security)",
			"dir", d.cfg.DataDir)
	}
	d.log.Info("mail security keys", "email", id.Email, "openpgp", id.OpenPGPFingerprint(), "smime_sha256", id.SMIMEFingerprint(),
		"sign", d.cfg.MailSign)
	return id, nil
}

// keys is the register of contacts' keys the file core, the notifier and
// the mailboxes share (Ferry's own keys count for its sender address).
func (d *deps) keys() *mailsec.Registry {
	return &mailsec.Registry{Store: d.store, Own: d.identity}
}
