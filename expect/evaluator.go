package expect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/store"
)

// Evaluator judges expectations at their deadlines. Every node may run
// one: the primary key of an evaluation, (expectation, deadline), lets one
// node record each deadline, and the alerts go into the outbox in the
// transaction that records it, so they are queued exactly once. Set the
// fields, then call Run (or RunOnce).
//
// The window of a deadline D opens where the previous one closed: at the
// previous deadline if that was met, at the end of its grace otherwise
// (the first window opens when the expectation is created). A file is on
// time when it has arrived (an upload finished, or a rename that gave it
// its name) by D, late when it came within the grace after D. D is met as
// soon as enough files came on time, and judged late or missed when its
// grace is over. The first file after a miss, before the next deadline, is
// reported as a late delivery once; it counts for the window it came in
// as well, so one miss does not make the next deadline miss too.
type Evaluator struct {
	Store  *store.Store
	Outbox *notify.Outbox
	Logger *slog.Logger
	// Every is the pause between passes; 0 means 30s.
	Every time.Duration
	// Backlog bounds the deadlines one expectation catches up on in a
	// pass (after an outage); 0 means 500.
	Backlog int
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time
}

func (v *Evaluator) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Evaluator) log() *slog.Logger {
	if v.Logger != nil {
		return v.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run evaluates at once and then every Every until ctx is done.
func (v *Evaluator) Run(ctx context.Context) error {
	if v.Store == nil || v.Outbox == nil {
		return errors.New("expect: Evaluator needs a Store and an Outbox")
	}
	for {
		if _, err := v.RunOnce(ctx); err != nil && ctx.Err() == nil {
			v.log().Warn("expectations: evaluate", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cmp.Or(v.Every, 30*time.Second)):
		}
	}
}

// RunOnce evaluates every enabled expectation up to now and returns how
// many evaluations this call recorded (deadlines and late deliveries). An
// expectation that fails is logged and the others go on; the first error
// is returned.
func (v *Evaluator) RunOnce(ctx context.Context) (int, error) {
	xs, err := v.Store.ListExpectations(ctx, "")
	if err != nil {
		return 0, err
	}
	now := v.now()
	var first error
	n := 0
	for i := range xs {
		if !xs[i].Enabled {
			continue
		}
		k, err := v.evaluate(ctx, &xs[i], now)
		n += k
		if err != nil && ctx.Err() == nil {
			v.log().Warn("expectations: evaluate", "expectation", xs[i].ID, "partner", xs[i].PartnerID, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return n, first
}

// arrivals returns the files x counts that arrived in (from, to], oldest
// first.
func (v *Evaluator) arrivals(ctx context.Context, x *store.Expectation, from, to time.Time) ([]arrival, error) {
	if !to.After(from) {
		return nil, nil
	}
	rows, err := v.Store.ArrivalsBetween(ctx, x.PartnerID, x.Folder, from, to)
	if err != nil {
		return nil, err
	}
	var out []arrival
	for _, r := range rows {
		p := r.Path
		if r.Operation == store.OpRename {
			p = r.TargetPath
		}
		if Matches(x.Folder, x.Pattern, p) && r.FinishedAt != nil {
			out = append(out, arrival{path: p, at: *r.FinishedAt})
		}
	}
	return out, nil
}

type arrival struct {
	path string
	at   time.Time
}

func (v *Evaluator) evaluate(ctx context.Context, x *store.Expectation, now time.Time) (int, error) {
	sched, err := ParseSchedule(x.Schedule, x.TimeZone)
	if err != nil {
		return 0, err
	}
	grace := Grace(x)
	n := 0
	ref, start := x.StartsAt, x.StartsAt
	last, err := v.Store.LastEvaluation(ctx, x.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return 0, err
	default:
		ref, start = last.Deadline, last.Deadline
		if last.Outcome != store.OutcomeMet {
			start = last.Deadline.Add(grace)
		}
		if last.Outcome == store.OutcomeMissed && last.LateDeliveryAt == nil {
			// A file after the miss, before the next deadline: the late
			// delivery the miss's recipients are told of.
			upper := earliest(now, sched.Next(last.Deadline))
			late, err := v.arrivals(ctx, x, start, upper)
			if err != nil {
				return 0, err
			}
			if len(late) > 0 {
				ok, err := v.record(ctx, x, sched, last, nil, &late[0])
				if err != nil {
					return 0, err
				}
				if ok {
					n++
				}
				last.LateDeliveryAt = &late[0].at
			}
		}
	}
	for range cmp.Or(v.Backlog, 500) {
		d := sched.Next(ref)
		if d.IsZero() || d.After(now) {
			return n, nil
		}
		files, err := v.arrivals(ctx, x, start, earliest(now, d.Add(grace)))
		if err != nil {
			return n, err
		}
		onTime := 0
		for _, f := range files {
			if !f.at.After(d) {
				onTime++
			}
		}
		e := &store.Evaluation{ExpectationID: x.ID, Deadline: d, PartnerID: x.PartnerID, WindowStart: start,
			EvaluatedAt: now}
		switch {
		case onTime >= x.FileCount:
			e.Outcome, e.Files = store.OutcomeMet, onTime
		case now.Before(d.Add(grace)):
			return n, nil // the grace is running: judge it when it is over
		case len(files) >= x.FileCount:
			e.Outcome, e.Files = store.OutcomeLate, len(files)
		default:
			e.Outcome, e.Files = store.OutcomeMissed, len(files)
		}
		ok, err := v.record(ctx, x, sched, e, e, nil)
		if err != nil {
			return n, err
		}
		if ok {
			n++
			v.log().Info("expectations: deadline evaluated", "expectation", x.ID, "partner", x.PartnerID,
				"deadline", d, "outcome", e.Outcome, "files", e.Files)
		}
		ref, start = d, d
		if e.Outcome != store.OutcomeMet {
			start = d.Add(grace)
		}
	}
	return n, nil
}

// record stores a new evaluation (insert) or a late delivery after a miss
// (late), with its alerts, in one transaction. It reports false when
// another node (or an earlier pass) recorded it first: then nothing is
// queued.
func (v *Evaluator) record(ctx context.Context, x *store.Expectation, sched *Schedule, e, insert *store.Evaluation, late *arrival) (bool, error) {
	p := notify.ExpectationPayload{ExpectationID: x.ID, Name: x.Name, Folder: x.Folder, Pattern: x.Pattern,
		Count: x.FileCount, Schedule: x.Schedule, TimeZone: x.TimeZone, Grace: Grace(x).String(),
		Deadline: e.Deadline.UTC(), DeadlineLocal: e.Deadline.In(sched.Loc).Format("2006-01-02 15:04 MST"),
		WindowStart: e.WindowStart.UTC(), Outcome: e.Outcome, Files: e.Files,
		Contacts: x.NotifyContacts, Emails: Emails(x)}
	recorded := false
	err := v.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if insert != nil {
			recorded, err = tx.InsertEvaluation(ctx, insert)
		} else {
			recorded, err = tx.MarkLateDelivery(ctx, x.ID, e.Deadline, late.at, late.path)
			p.Outcome, p.LatePath, p.LateAt = notify.OutcomeLateDelivery, late.path, &late.at
		}
		if err != nil || !recorded || p.Outcome == store.OutcomeMet {
			return err
		}
		return v.Outbox.OnExpectation(ctx, tx, x.PartnerID, p, x.NotifyWebhooks)
	})
	if err != nil {
		return false, fmt.Errorf("record evaluation of %s at %s: %w", x.ID, e.Deadline.UTC().Format(time.RFC3339), err)
	}
	return recorded, nil
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
