package notify

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/store"
)

// Notifier sends the outbox's mail. Set the fields, then call Run (or
// RunOnce from tests and tools). Several Notifiers, in one process or on
// several nodes sharing a PostgreSQL database, share the work: each due row
// is claimed by one of them for a lease, and a claim that is not settled in
// time (a crashed node) passes to another.
type Notifier struct {
	Outbox *Outbox // the store, the digest window and the wake-ups
	// Relay sends to the partner's contacts, internal subscribers and, for
	// quota alerts, the operators. nil: no SMTP; alerts go only to the
	// partner mailbox and are marked sent without relayed_at.
	Relay *Relay
	// Mailbox receives a copy of each alert in the partner's INBOX; nil:
	// no copies.
	Mailbox *mailbox.Store
	// MailDomain names partner mailboxes (<slug>@<domain>) in the mails.
	MailDomain string
	// From is the From header and envelope sender; "" means
	// "Ferry <ferry@<MailDomain>>".
	From string
	// Operators get every quota alert (envelope only, never in a header),
	// and a warning when an alert went unencrypted to a recipient whose
	// key is no longer usable.
	Operators []string
	// Templates render the mails; nil means the built-in ones.
	Templates *Templates
	Logger    *slog.Logger
	// Sealer signs every alert (Sign: mailsec.SignSMIME, SignOpenPGP or
	// SignNone; "" means S/MIME) and encrypts it to each recipient whose
	// key Keys finds (one mail per such recipient). nil Sealer: alerts go
	// as composed; nil Keys: no encryption.
	Sealer Sealer
	Sign   string
	Keys   KeyLookup
	// BlockedRecheck is how often an alert blocked for want of a key is
	// checked again (a key added through the API wakes it at once); 0
	// means 1m.
	BlockedRecheck time.Duration

	Workers      int           // concurrent sends; 0 means 4
	Batch        int           // rows claimed at once; 0 means 4 × Workers
	PollInterval time.Duration // how often the outbox is checked; 0 means 1s
	Lease        time.Duration // how long a claim holds; 0 means 2m
	SendTimeout  time.Duration // one mail, relay and mailbox; 0 means 1m
	MaxAttempts  int           // before a temporarily failing mail is dead; 0 means 25
	BackoffBase  time.Duration // first retry delay; 0 means 30s
	BackoffMax   time.Duration // longest retry delay; 0 means 1h
	// Now is the clock; nil means time.Now. Tests move it to pass leases
	// and digest windows without sleeping.
	Now func() time.Time

	initOnce sync.Once
	from     *mail.Address
	initErr  error
}

func (n *Notifier) log() *slog.Logger {
	if n.Logger != nil {
		return n.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

func (n *Notifier) init() error {
	n.initOnce.Do(func() {
		if n.Outbox == nil || n.Outbox.Store == nil {
			n.initErr = errors.New("notify: Notifier needs an Outbox with a Store")
			return
		}
		if n.Templates == nil {
			n.Templates, n.initErr = LoadTemplates("")
			if n.initErr != nil {
				return
			}
		}
		from := n.From
		if from == "" {
			from = "Ferry <ferry@" + cmp.Or(n.MailDomain, "ferry.localhost") + ">"
		}
		n.from, n.initErr = mail.ParseAddress(from)
		if n.initErr != nil {
			n.initErr = fmt.Errorf("notify: From %q: %w", from, n.initErr)
		}
	})
	return n.initErr
}

// Run sends due mail until ctx is done, then waits for the mails in flight
// (each bounded by SendTimeout) and returns nil. Rows it could not settle
// return to the outbox when their lease ends.
func (n *Notifier) Run(ctx context.Context) error {
	if err := n.init(); err != nil {
		return err
	}
	poll := cmp.Or(n.PollInterval, time.Second)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			if n.Relay != nil {
				n.Relay.Close()
			}
			return nil
		case <-timer.C:
		case <-n.Outbox.wakeC():
		}
		k, err := n.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			n.log().Warn("notify: claim outbox rows", "err", err)
		}
		next := poll
		if err == nil && k > 0 {
			// More may be due: a round claims at most a batch, and fewer
			// when the claim gave SQLite's writer to a waiting upload.
			next = 0
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

func (n *Notifier) batch() int { return cmp.Or(n.Batch, 4*cmp.Or(n.Workers, 4)) }

// RunOnce claims one round of due mail and sends it, Workers at a time. It
// returns how many batches (mails) it claimed. The sends do not stop with
// ctx; each has SendTimeout.
func (n *Notifier) RunOnce(ctx context.Context) (int, error) {
	if err := n.init(); err != nil {
		return 0, err
	}
	rows, err := n.Outbox.Store.ClaimNotifications(ctx, store.ClaimOptions{Now: n.now(),
		Lease: cmp.Or(n.Lease, 2*time.Minute), Limit: n.batch(), Digest: n.Outbox.Digest})
	if err != nil {
		return 0, err
	}
	for _, row := range rows {
		if row.Kind == store.NotifyKindUpload {
			n.Outbox.mailed(row.PartnerID) // its next upload mail waits (Outbox.UploadSpacing)
		}
	}
	sem := make(chan struct{}, cmp.Or(n.Workers, 4))
	var wg sync.WaitGroup
	for _, row := range rows {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmp.Or(n.SendTimeout, time.Minute))
			defer cancel()
			n.deliver(sctx, row)
		}()
	}
	wg.Wait()
	return len(rows), nil
}

// outcome of one attempt.
type outcome struct {
	err       error // nil: done
	permanent bool
	relayed   *time.Time
	accepted  []string
	note      string     // kept in last_error even on success (refused recipients)
	blocked   bool       // waits for recipients' keys (err says whose)
	mailboxAt *time.Time // when this attempt's copy reached the partner mailbox
}

// deliver makes one attempt at a claimed batch and settles it.
func (n *Notifier) deliver(ctx context.Context, head store.Notification) {
	log := n.log().With("notification", head.ID, "kind", head.Kind, "partner", head.PartnerID)
	// The lease began at the claim; a row that waited for a worker behind
	// slow sends gets it renewed, so that no other node takes it meanwhile.
	lease := cmp.Or(n.Lease, 2*time.Minute)
	var err error
	if now := n.now(); head.NextAt.Sub(now) < lease*3/4 {
		err = n.Outbox.Store.ExtendNotificationLease(ctx, head.BatchID, head.Token, now.Add(lease))
	}
	if errors.Is(err, store.ErrNotFound) {
		log.Warn("notify: claim lost while waiting for a worker; another worker has it")
		return
	}
	if err != nil {
		log.Warn("notify: renew lease; the row returns after its lease", "err", err)
		return
	}
	out := n.attempt(ctx, head, log)
	s := store.Settlement{Status: store.NotifySent, LastError: out.note, RelayedAt: out.relayed, Recipients: out.accepted,
		MailboxAt: out.mailboxAt}
	if out.err != nil {
		s.LastError = out.err.Error()
		switch {
		case out.blocked:
			s.Status = store.NotifyBlocked
			s.NextAt = n.now().Add(n.blockedRecheck())
		case out.permanent:
			s.Status = store.NotifyDead
		case head.Attempts >= cmp.Or(n.MaxAttempts, 25):
			s.Status = store.NotifyDead
			s.LastError = fmt.Sprintf("gave up after %d attempts: %v", head.Attempts, out.err)
		default:
			s.Status = store.NotifyPending
			s.NextAt = n.now().Add(n.backoff(head.Attempts))
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err = n.Outbox.Store.SettleNotification(sctx, head.BatchID, head.Token, s)
	switch {
	case errors.Is(err, store.ErrNotFound):
		log.Warn("notify: claim lost before it was settled (lease ran out); another worker retries", "status", s.Status)
	case err != nil:
		log.Error("notify: settle; the row returns after its lease", "err", err)
	case s.Status == store.NotifyDead:
		log.Error("notify: mail is dead", "err", s.LastError, "attempts", head.Attempts)
	case s.Status == store.NotifyBlocked:
		log.Warn("notify: alert blocked until its recipients have keys", "reason", s.LastError)
	case s.Status == store.NotifyPending:
		log.Warn("notify: mail failed, will retry", "err", s.LastError, "attempt", head.Attempts, "next", s.NextAt)
	default:
		log.Info("notify: mail sent", "message_id", head.MessageID, "to", strings.Join(out.accepted, ","))
	}
}

// backoff is the delay before attempt+1: exponential from BackoffBase,
// capped at BackoffMax, with jitter over its upper half so that a relay
// coming back is not hit by every node's retries at once.
func (n *Notifier) backoff(attempt int) time.Duration {
	base, limit := cmp.Or(n.BackoffBase, 30*time.Second), cmp.Or(n.BackoffMax, time.Hour)
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d/2 + rand.N(d/2+1)
}

func (n *Notifier) attempt(ctx context.Context, head store.Notification, log *slog.Logger) outcome {
	st := n.Outbox.Store
	rows, err := st.NotificationBatch(ctx, head.BatchID)
	if err != nil {
		return outcome{err: err}
	}
	p, err := st.PartnerByID(ctx, head.PartnerID)
	if errors.Is(err, store.ErrNotFound) {
		return outcome{err: errors.New("partner no longer exists"), permanent: true}
	}
	if err != nil {
		return outcome{err: err}
	}
	if head.Kind == store.NotifyKindMail {
		return n.relayMail(ctx, head)
	}
	data, err := n.data(head, rows, p)
	if err != nil {
		return outcome{err: err, permanent: true}
	}
	env, rcpts, err := n.recipients(ctx, head, p)
	if err != nil {
		return outcome{err: err}
	}
	// The Date of a resent mail is the time of its first attempt's alert,
	// so every copy of one Message-ID is the same message.
	msg, err := n.Templates.Compose(data, env, head.CreatedAt)
	if err != nil {
		return outcome{err: err, permanent: true}
	}
	var sp sendPlan
	// Only what goes through the relay can be sent in clear: without a
	// relay (partner mailbox only) nothing waits for keys.
	// Recipients an earlier attempt got a mail to (one of several mails
	// failed after others went out) are not mailed again.
	done := splitRecipients(head.Recipients)
	if head.RelayedAt == nil && n.Relay != nil && len(rcpts) > 0 {
		sp, err = n.plan(ctx, p, slices.DeleteFunc(slices.Clone(rcpts), func(a string) bool { return slices.Contains(done, a) }))
		if errors.Is(err, errBlocked) {
			return outcome{err: err, blocked: true}
		}
		if err != nil {
			return outcome{err: err}
		}
	}
	// Every copy is signed: the partner mailbox's and the clear mail's.
	signed, err := n.seal(msg, nil)
	if err != nil {
		return outcome{err: fmt.Errorf("sign: %w", err), permanent: true}
	}

	var copied *time.Time
	if n.Mailbox != nil && head.MailboxAt == nil && p.Enabled && !data.operatorsOnly {
		copied, err = n.copyToMailbox(ctx, head, p, signed)
		switch {
		case errors.Is(err, mailbox.ErrOverQuota):
			// A full mailbox must not hold up the mail: skip the copy.
			log.Warn("notify: partner mailbox is full; alert not copied into it", "err", err)
		case err != nil:
			return outcome{err: fmt.Errorf("partner mailbox: %w", err)}
		}
	}
	var out outcome
	switch {
	case head.RelayedAt != nil:
		// An earlier attempt got the mail out; only the mailbox copy was missing.
	case n.Relay == nil || len(rcpts) == 0:
		// Nothing to relay: mailbox only (documented).
	default:
		for _, w := range sp.warnings {
			log.Warn("notify: recipient key unusable; the alert goes signed, not encrypted", "warning", w)
		}
		out = n.relay(ctx, sp, signed, msg)
		out.accepted = append(done, out.accepted...)
		if len(sp.warnings) > 0 {
			out.note = strings.TrimPrefix(out.note+"; sent signed, not encrypted: "+strings.Join(sp.warnings, "; "), "; ")
		}
		if out.note != "" && out.err == nil {
			log.Warn("notify: alert sent with a note", "note", out.note)
		}
		if out.err == nil {
			n.warnOperators(ctx, head, p, sp.warnings)
		}
	}
	out.mailboxAt = copied
	return out
}

// relay sends the signed mail to the recipients without a key in one
// transaction, and a mail encrypted to each key to its recipient. Any
// failure fails the attempt (a retry sends them all again, with the same
// Message-ID).
func (n *Notifier) relay(ctx context.Context, sp sendPlan, signed, msg []byte) outcome {
	var out outcome
	var failed error
	rejected := map[string]string{}
	if len(sp.clear)+len(sp.encrypted) == 0 {
		// Everyone got the mail in an earlier attempt.
		now := n.now().UTC()
		out.relayed = &now
		return out
	}
	send := func(to []string, body []byte) error {
		res, err := n.Relay.Send(ctx, n.from.Address, to, body)
		if res != nil {
			for a, e := range res.Rejected {
				rejected[a] = e
			}
			if err == nil {
				// Only a finished transaction delivered: RCPTs accepted
				// before a failure got nothing.
				out.accepted = append(out.accepted, res.Accepted...)
			}
		}
		if err != nil {
			se := classify(err)
			// Every recipient of this one mail refused for good: reported
			// with the others' outcome, not a failure of theirs.
			if !se.Temporary && res != nil && len(res.Rejected) == len(to) {
				return nil
			}
			// The first failure decides; the other mails are still sent, and
			// a retry mails only those that did not get theirs.
			if failed == nil {
				failed, out.permanent = err, !se.Temporary
			}
			return err
		}
		return nil
	}
	if len(sp.clear) > 0 {
		_ = send(sp.clear, signed)
	}
	for _, r := range sp.encrypted {
		body, err := n.seal(msg, r.key)
		if err != nil {
			return outcome{err: fmt.Errorf("encrypt to %s: %w", r.addr, err), permanent: true}
		}
		_ = send([]string{r.addr}, body)
	}
	if failed != nil {
		out.err = failed
		if len(rejected) > 0 {
			out.err = fmt.Errorf("%w (refused: %s)", failed, joinRejected(rejected))
		}
		return out
	}
	if len(out.accepted) == 0 && len(rejected) > 0 {
		return outcome{err: fmt.Errorf("every recipient refused: %s", joinRejected(rejected)), permanent: true}
	}
	now := n.now().UTC()
	out.relayed = &now
	if len(rejected) > 0 {
		out.note = "refused recipients: " + joinRejected(rejected)
	}
	return out
}

// copyToMailbox stores the alert in the partner's INBOX once, and reports
// when it is there (nil: no copy). The attempt's settlement records that
// time; a retry after a crash between the delivery and its record finds
// the copy by Message-ID.
func (n *Notifier) copyToMailbox(ctx context.Context, head store.Notification, p *store.Partner, msg []byte) (*time.Time, error) {
	has, err := n.Outbox.Store.HasMailMessageID(ctx, p.ID, head.MessageID)
	if err != nil {
		return nil, err
	}
	if !has {
		if _, err := n.Mailbox.Deliver(ctx, p.ID, msg); err != nil {
			if errors.Is(err, mailbox.ErrNoSuchMailbox) {
				return nil, nil // disabled since the claim: no copy
			}
			return nil, err
		}
	}
	at := n.now()
	return &at, nil
}

// recipients returns the header addresses and the envelope recipients:
// the partner's contacts (in To), its internal subscribers and, for quota
// alerts, the operators (envelope only). Unparsable addresses are skipped.
func (n *Notifier) recipients(ctx context.Context, head store.Notification, p *store.Partner) (Envelope, []string, error) {
	env := Envelope{From: n.from}
	var rcpts []string
	seen := map[string]bool{}
	add := func(addr string, header bool) {
		a, err := mail.ParseAddress(addr)
		if err != nil {
			n.log().Warn("notify: skipping an invalid address", "partner", p.Slug, "address", addr, "err", err)
			return
		}
		key := strings.ToLower(a.Address)
		if seen[key] {
			return
		}
		seen[key] = true
		rcpts = append(rcpts, a.Address)
		if header {
			env.To = append(env.To, a)
		}
	}
	partner := true
	if head.Kind == store.NotifyKindExpectation {
		ep, err := decodeExpectation(head)
		if err != nil {
			return env, nil, err
		}
		partner = ep.Contacts
		for _, e := range ep.Emails {
			add(e, !partner) // operators only: they are the To
		}
	}
	if partner {
		for _, c := range p.ContactEmails() {
			add(c, true)
		}
		subs, err := n.Outbox.Store.Subscribers(ctx, p.ID)
		if err != nil {
			return env, nil, err
		}
		for _, s := range subs {
			add(s.Email, false)
		}
	}
	if head.Kind == store.NotifyKindQuota {
		for _, o := range n.Operators {
			add(o, false)
		}
	}
	if len(env.To) == 0 {
		// No contact: the header names the partner mailbox, which gets a copy.
		env.To = []*mail.Address{{Address: p.Slug + "@" + cmp.Or(n.MailDomain, "ferry.localhost")}}
	}
	return env, rcpts, nil
}

// data builds the template data of a batch.
func (n *Notifier) data(head store.Notification, rows []store.Notification, p *store.Partner) (*Data, error) {
	t := head.CreatedAt.UTC()
	d := &Data{Kind: head.Kind, Partner: PartnerInfo{Slug: safe(p.Slug), Name: safe(p.Name)},
		Mailbox: p.Slug + "@" + cmp.Or(n.MailDomain, "ferry.localhost"), MessageID: head.MessageID, Time: t, TimeText: timeText(t)}
	switch head.Kind {
	case store.NotifyKindUpload:
		files := make([]FileInfo, 0, len(rows))
		for _, r := range rows {
			ups, err := UploadsOf(r.Payload)
			if err != nil {
				return nil, fmt.Errorf("payload of %s: %w", r.ID, err)
			}
			for _, u := range ups {
				files = append(files, fileInfo(u))
			}
		}
		d.setFiles(files)
	case store.NotifyKindQuota:
		var q QuotaPayload
		if err := json.Unmarshal([]byte(head.Payload), &q); err != nil {
			return nil, fmt.Errorf("payload of %s: %w", head.ID, err)
		}
		d.Quota = quotaInfo(q)
	case store.NotifyKindExpectation:
		ep, err := decodeExpectation(head)
		if err != nil {
			return nil, err
		}
		d.Expectation = expectationInfo(ep)
		d.operatorsOnly = !ep.Contacts
	case store.NotifyKindTest:
	default:
		return nil, fmt.Errorf("unknown notification kind %q", head.Kind)
	}
	return d, nil
}

func quotaInfo(q QuotaPayload) *QuotaInfo {
	pct := 0
	if q.QuotaBytes > 0 {
		pct = int(q.UsedBytes * 100 / q.QuotaBytes)
	}
	if q.QuotaFiles > 0 {
		pct = max(pct, int(q.UsedFiles*100/q.QuotaFiles))
	}
	return &QuotaInfo{Threshold: q.Threshold, Percent: pct, UsedBytes: q.UsedBytes, QuotaBytes: q.QuotaBytes,
		UsedFiles: q.UsedFiles, QuotaFiles: q.QuotaFiles, UsedText: SizeText(q.UsedBytes), QuotaText: SizeText(q.QuotaBytes)}
}

// relayMail sends a message a partner wrote to outside recipients, as it
// was written: no template, no mailbox copy (the sender's Sent folder has
// one). Without a relay it waits and retries like any alert, then is dead.
func (n *Notifier) relayMail(ctx context.Context, head store.Notification) outcome {
	var p OutboundPayload
	if err := json.Unmarshal([]byte(head.Payload), &p); err != nil {
		return outcome{err: fmt.Errorf("payload of %s: %w", head.ID, err), permanent: true}
	}
	if head.RelayedAt != nil {
		return outcome{}
	}
	if n.Relay == nil {
		return outcome{err: errors.New("no SMTP relay is configured (FERRY_SMTP_RELAY) for mail to outside recipients")}
	}
	from := p.From
	if a, err := mail.ParseAddress(from); err == nil {
		from = a.Address
	}
	res, err := n.Relay.Send(ctx, from, p.To, p.Raw)
	if err != nil {
		se := classify(err)
		out := outcome{err: err, permanent: !se.Temporary}
		if res != nil && len(res.Rejected) > 0 {
			out.err = fmt.Errorf("%w (refused: %s)", err, joinRejected(res.Rejected))
		}
		return out
	}
	now := n.now().UTC()
	out := outcome{relayed: &now, accepted: res.Accepted}
	if len(res.Rejected) > 0 {
		out.note = "refused recipients: " + joinRejected(res.Rejected)
	}
	return out
}

// splitRecipients reads the recipients column ("a, b").
func splitRecipients(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
