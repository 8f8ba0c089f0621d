package main

import (
	"context"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ferryhq/ferry/expect"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/store"
)

// housekeeping owns the node's background loops: maintenance (recovery of
// interrupted publishes, the sweep of expired partial uploads, pruning of
// failed logins, of audit rows past FERRY_AUDIT_RETENTION and of
// notifications past FERRY_NOTIFICATION_RETENTION),
// session revalidation, the mailbox blob sweep, the notifier, the webhook
// sender and the expectation evaluator. They stop
// when the context serve runs under ends, or at stop, which waits for every
// one of them: nothing of them runs after serve returns.
type housekeeping struct {
	d        *deps
	log      *slog.Logger
	notifier *notify.Notifier
	hooks    *notify.WebhookSender // nil: no webhook deliveries from this node
	// expect judges expected deliveries at their deadlines (every node
	// may: each deadline is recorded once); nil: not on this node.
	expect *expect.Evaluator
	// revalidateEvery is revalidateEvery (shorter in tests).
	revalidateEvery time.Duration
	cancel          context.CancelFunc
	g               errgroup.Group
}

// Timings of the loops.
const (
	// maintainFirst leaves the listeners time to come up before the first
	// maintenance pass; maintainEvery is the pause between passes.
	maintainFirst = 5 * time.Second
	maintainEvery = time.Hour
	// recoverMinAge leaves alone a publish that may be running right now
	// on this or another node.
	recoverMinAge = time.Minute
	// revalidateEvery is how soon a node closes the live FTP, IMAP and
	// POP3 sessions of an account or partner that another node (or the
	// CLI) disabled, deleted or otherwise changed.
	revalidateEvery = 10 * time.Second
	// mailSweepEvery is how often the mailbox blob sweep runs;
	// mailSweepGrace keeps it away from deliveries in flight.
	mailSweepEvery = 6 * time.Hour
	mailSweepGrace = time.Hour
	// sweepPage is how many partners the partial-upload sweep lists at once.
	sweepPage = 500
)

func newHousekeeping(d *deps, n *notify.Notifier) *housekeeping {
	return &housekeeping{d: d, log: d.log.With("component", "maintenance"), notifier: n,
		revalidateEvery: revalidateEvery}
}

func (h *housekeeping) start(ctx context.Context) {
	ctx, h.cancel = context.WithCancel(ctx)
	h.g.Go(func() error { h.maintain(ctx); return nil })
	h.g.Go(func() error { h.revalidate(ctx); return nil })
	h.g.Go(func() error { h.sweepMail(ctx); return nil })
	h.g.Go(func() error { h.notify(ctx); return nil })
	h.g.Go(func() error { h.deliverHooks(ctx); return nil })
	h.g.Go(func() error { h.evaluate(ctx); return nil })
}

// stop ends every loop and waits until each has returned (the notifier
// settles the mails in flight first).
func (h *housekeeping) stop() {
	h.cancel()
	_ = h.g.Wait() // the loops log their own errors
}

// maintain runs the maintenance pass shortly after start and then every
// maintainEvery. Every node may run it: each step is safe to run
// concurrently.
func (h *housekeeping) maintain(ctx context.Context) {
	wait := maintainFirst
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		h.maintainOnce(ctx)
		wait = maintainEvery
	}
}

// maintainOnce is one maintenance pass.
func (h *housekeeping) maintainOnce(ctx context.Context) {
	d, log := h.d, h.log
	// Needs no FTP server: the file core recovers and sweeps, so with FTP
	// off a publish a crash interrupted is completed or rolled back all the
	// same. One pass covers every partner.
	fc := d.files()
	finished, aborted, err := fc.Recover(ctx, recoverMinAge)
	if err != nil && ctx.Err() == nil {
		log.Error("recover uploads", "err", err)
	} else if finished+aborted > 0 {
		log.Warn("recovered interrupted upload commits", "finished", finished, "aborted", aborted)
	}
	// Partners a page at a time: memory stays flat however many there are.
	for after := ""; ; {
		partners, err := d.store.ListPartners(ctx, store.PartnerFilter{After: after, Limit: sweepPage})
		if err != nil {
			if ctx.Err() == nil {
				log.Error("list partners for the partial-upload sweep", "err", err)
			}
			break
		}
		for _, p := range partners {
			if ctx.Err() != nil {
				return
			}
			n, err := fc.Sweep(ctx, p.Slug, d.cfg.PartialRetention)
			if err != nil {
				log.Warn("sweep interrupted uploads", "partner", p.Slug, "err", err)
			} else if n > 0 {
				log.Info("deleted interrupted uploads past retention", "partner", p.Slug, "count", n)
			}
		}
		if len(partners) < sweepPage {
			break
		}
		after = partners[len(partners)-1].Slug
	}
	if err := d.guard.Prune(ctx); err != nil && ctx.Err() == nil {
		log.Warn("prune failed logins", "err", err)
	}
	h.retention(ctx)
}

// retention deletes audit rows past FERRY_AUDIT_RETENTION and sent and
// dead notifications past FERRY_NOTIFICATION_RETENTION, in batches. One
// node at a time does it (an advisory lock on PostgreSQL): the others skip
// the round instead of deleting the same rows beside it.
func (h *housekeeping) retention(ctx context.Context) {
	d, log := h.d, h.log
	if d.cfg.AuditRetention <= 0 && d.cfg.NotificationRetention <= 0 {
		return
	}
	ran, err := d.store.RunExclusive(ctx, "retention", func(ctx context.Context) error {
		for _, r := range []struct {
			setting string
			keep    time.Duration
			del     func(context.Context, time.Time, int) (int64, error)
			what    string
		}{
			{"FERRY_AUDIT_RETENTION", d.cfg.AuditRetention, d.store.DeleteTransfersBefore, "audit rows"},
			{"FERRY_NOTIFICATION_RETENTION", d.cfg.NotificationRetention, d.store.DeleteNotificationsBefore, "notifications"},
		} {
			if r.keep <= 0 {
				continue
			}
			n, err := r.del(ctx, time.Now().Add(-r.keep), store.RetentionBatch)
			if err != nil && ctx.Err() == nil {
				log.Warn("delete "+r.what+" past "+r.setting, "deleted", n, "err", err)
			} else if n > 0 {
				log.Info("deleted "+r.what+" past "+r.setting, "count", n, "retention", r.keep)
			}
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		log.Warn("retention", "err", err)
	} else if !ran {
		log.Debug("retention skipped: another node is running it")
	}
}

// revalidate closes, every revalidateEvery, the live sessions whose
// account or partner changed since their login.
func (h *housekeeping) revalidate(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.revalidateEvery):
		}
		for _, srv := range h.d.ftp {
			if _, err := srv.RevalidateSessions(ctx); err != nil && ctx.Err() == nil {
				h.log.Warn("revalidate FTP sessions", "err", err)
			}
		}
		for _, srv := range h.d.mailSessions {
			if _, err := srv.RevalidateSessions(ctx); err != nil && ctx.Err() == nil {
				h.log.Warn("revalidate mail sessions", "err", err)
			}
		}
	}
}

// sweepMail removes mailbox blobs no message refers to. It runs whether or
// not a mail listener is on: the notifier delivers alerts to partner
// mailboxes either way.
func (h *housekeeping) sweepMail(ctx context.Context) {
	st := mailStore(h.d)
	log := h.d.log.With("component", "mailbox")
	for {
		if n, err := st.Sweep(ctx, mailSweepGrace); err != nil && ctx.Err() == nil {
			log.Warn("mail blob sweep", "err", err)
		} else if n > 0 {
			log.Info("mail blob sweep", "removed", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(mailSweepEvery):
		}
	}
}

// notify runs the notifier until ctx ends.
func (h *housekeeping) notify(ctx context.Context) {
	if h.notifier == nil {
		return
	}
	if err := h.notifier.Run(ctx); err != nil {
		h.notifier.Logger.Error("notifier stopped", "err", err)
	}
}

// deliverHooks runs the webhook sender until ctx ends.
func (h *housekeeping) deliverHooks(ctx context.Context) {
	if h.hooks == nil {
		return
	}
	if err := h.hooks.Run(ctx); err != nil {
		h.log.Error("webhook sender stopped", "err", err)
	}
}

// evaluate runs the expectation evaluator until ctx ends.
func (h *housekeeping) evaluate(ctx context.Context) {
	if h.expect == nil {
		return
	}
	if err := h.expect.Run(ctx); err != nil {
		h.log.Error("expectation evaluator stopped", "err", err)
	}
}
