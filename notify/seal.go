package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"

	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/store"
)

// Sealer signs an alert and, with a key, encrypts it to that recipient
// (mailsec.Identity).
type Sealer interface {
	Seal(msg []byte, mode string, to *mailsec.PublicKey) ([]byte, error)
}

// KeyLookup finds a recipient's usable key, and the keys registered for it
// that are no longer usable (mailsec.Registry).
type KeyLookup interface {
	Lookup(ctx context.Context, email string) (key *mailsec.PublicKey, stale []*mailsec.PublicKey, err error)
}

var (
	_ Sealer    = (*mailsec.Identity)(nil)
	_ KeyLookup = (*mailsec.Registry)(nil)
)

// errBlocked is an alert that may not go out yet: the partner requires
// encryption and a recipient has no usable key.
var errBlocked = errors.New("blocked")

// sendPlan is who gets which mail: the clear (signed) mail to some, a mail
// encrypted to its key to each of the others.
type sendPlan struct {
	clear     []string
	encrypted []keyedRecipient
	warnings  []string // expired or revoked keys: signed mail instead
}

type keyedRecipient struct {
	addr string
	key  *mailsec.PublicKey
}

// plan looks up each recipient's key. A partner that requires encrypted
// alerts gets none while any recipient lacks a usable key: errBlocked,
// with the addresses.
func (n *Notifier) plan(ctx context.Context, p *store.Partner, rcpts []string) (sendPlan, error) {
	var sp sendPlan
	if n.Keys == nil {
		if p.EncryptAlerts == store.EncryptAlertsRequired && len(rcpts) > 0 {
			return sp, fmt.Errorf("%w: partner %s requires encrypted alerts and no key register is configured", errBlocked, p.Slug)
		}
		sp.clear = rcpts
		return sp, nil
	}
	var missing []string
	for _, addr := range rcpts {
		key, stale, err := n.Keys.Lookup(ctx, addr)
		if err != nil {
			return sp, err
		}
		if key != nil {
			sp.encrypted = append(sp.encrypted, keyedRecipient{addr, key})
			continue
		}
		for _, k := range stale {
			sp.warnings = append(sp.warnings, fmt.Sprintf("the %s key %s of %s is no longer usable (%v)", k.Kind, k.Fingerprint, addr, k.Usable(n.now())))
		}
		missing = append(missing, addr)
		sp.clear = append(sp.clear, addr)
	}
	if p.EncryptAlerts == store.EncryptAlertsRequired && len(missing) > 0 {
		return sp, fmt.Errorf("%w: partner %s requires encrypted alerts; waiting for a usable key of %s", errBlocked, p.Slug, strings.Join(missing, ", "))
	}
	return sp, nil
}

func (n *Notifier) signMode() string {
	if n.Sign == "" {
		return mailsec.SignSMIME
	}
	return n.Sign
}

// seal signs msg (and encrypts it to key); without a Sealer it is sent
// as composed.
func (n *Notifier) seal(msg []byte, key *mailsec.PublicKey) ([]byte, error) {
	if n.Sealer == nil {
		if key != nil {
			return nil, errors.New("a recipient key but no Sealer")
		}
		return msg, nil
	}
	return n.Sealer.Seal(msg, n.signMode(), key)
}

func (n *Notifier) blockedRecheck() time.Duration {
	if n.BlockedRecheck > 0 {
		return n.BlockedRecheck
	}
	return time.Minute
}

// warnOperators mails the operators that recipients' keys are no longer
// usable, so the alert went to them signed but not encrypted. It is best
// effort: a failure is logged, the alert stands.
func (n *Notifier) warnOperators(ctx context.Context, head store.Notification, p *store.Partner, warnings []string) {
	if n.Relay == nil || len(n.Operators) == 0 || len(warnings) == 0 {
		return
	}
	var h gomail.Header
	h.SetDate(n.now())
	h.SetMessageID("keywarning-" + head.MessageID)
	h.SetAddressList("From", []*gomail.Address{(*gomail.Address)(n.from)})
	h.SetSubject(oneLine("[Ferry] " + p.Name + ": an alert went unencrypted, a recipient key is no longer usable"))
	h.Set("Auto-Submitted", "auto-generated")
	h.Set("X-Ferry-Partner", p.Slug)
	h.Set("X-Ferry-Kind", "key-warning")
	h.Set("MIME-Version", "1.0")
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	var buf bytes.Buffer
	w, err := message.CreateWriter(&buf, h.Header)
	if err == nil {
		body := "The alert " + head.MessageID + " of partner " + safe(p.Slug) + " was sent signed but not encrypted to these recipients:\n\n"
		for _, warn := range warnings {
			body += "  " + safe(warn) + "\n"
		}
		body += "\nRegister a current key (ferry key add, the API or the partner's page in the web admin).\n"
		_, err = w.Write([]byte(body))
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	var msg []byte
	if err == nil {
		msg, err = n.seal(buf.Bytes(), nil)
	}
	if err == nil {
		_, err = n.Relay.Send(ctx, n.from.Address, n.Operators, msg)
	}
	if err != nil {
		n.log().Warn("notify: could not mail the operators about unusable keys", "notification", head.ID, "err", err)
	}
}
