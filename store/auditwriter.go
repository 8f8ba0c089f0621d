package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// AuditWriter writes audit rows on a goroutine of its own, many per
// transaction (those that arrive within Linger of the first), so that a
// session does not wait for the database before its reply: a download's
// row cost about a third of a small file's RETR when each was its own
// INSERT.
//
// Rows are queued in memory until written (within Linger and a
// transaction); a full queue makes Add wait, so rows are never dropped
// under load (rows the database refuses, or cannot take within 30 s, are
// logged and dropped). Close writes what is queued. Rows still queued
// when the process dies are lost (with the events OnWrite would have
// queued for them), so what must not be lost goes through an AuditWriter
// only once the database holds a record to repair it from: an upload's
// finish (Finish) is queued after BeginUpload committed its row, which
// recovery finishes after a crash (or wrote it to the upload log, which
// the next start moves into the database: see Store.OpenUploadLog).
//
// A row marked ApplyUsage (a delete's refund) changes its partner's usage
// counters when it is written, in its transaction. Anything that reads
// the counters to decide (a quota check) calls WaitUsage first, so that
// what this process gave back is counted: a DELE then a STOR finds its
// space free. Readers of other processes see the change within Linger; a
// change still queued when the process dies is lost with its row, which
// leaves usage too high (never too low) until `ferry quota recalc`.
//
// On SQLite, whose one writer every transaction queues for, a batch of
// upload finishes ends its transaction early when another transaction
// waits (an upload's reservation, which the client's 226 waits for), and
// goes on in the next: the reservation waits for one finish, not for the
// batch.
//
// The zero value is not usable; set Store, then call Start.
type AuditWriter struct {
	Store  *Store
	Logger *slog.Logger
	// Queue is how many rows may wait (default 4096).
	Queue int
	// Linger is how long the first row of a batch waits for more before
	// they are written (default 20ms; negative: none). One row per
	// transaction cost a session doing one small download after another
	// nearly as much CPU as the download itself.
	Linger time.Duration
	// OnWrite, if set, runs in the transaction that writes each batch,
	// after its rows, so that what it writes (the webhook deliveries of
	// the rows' events) commits with them or not at all. A batch it fails
	// is written row by row, and a row it fails alone is written without
	// it (the error is logged).
	OnWrite func(ctx context.Context, tx *Store, rows []*Transfer) error

	mu      sync.Mutex
	running bool
	rows    []*Transfer    // queued, oldest first
	since   time.Time      // when the first of rows was queued into an empty queue
	room    *sync.Cond     // on mu: Add waits on it while the queue is full
	wake    chan struct{}  // rows were queued: a batch starts
	flush   chan struct{}  // ends a batch's wait for more rows
	done    chan struct{}  // closed when the goroutine has ended
	preps   sync.WaitGroup // FinishAfter's goroutines

	// pmu guards the two below. It is taken under mu (Add), never the
	// other way round.
	pmu     sync.Mutex
	pending map[string]int // partner ID: queued rows with ApplyUsage
	written chan struct{}  // closed (and replaced) after each batch
}

// auditBatch is the most rows written in one transaction.
const auditBatch = 256

// Start starts the writer's goroutine. Before Start and after Close, Add
// writes at once.
func (w *AuditWriter) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		return
	}
	w.room = sync.NewCond(&w.mu) // rows a writer stopped early left are taken along
	w.wake = make(chan struct{}, 1)
	w.flush = make(chan struct{}, 1)
	w.done = make(chan struct{})
	w.running = true
	go w.run(w.wake, w.flush, w.done)
}

// Finish queues the end of an upload BeginUpload recorded and the caller
// then made visible: in the background, FinishUpload's work (the row marked
// done, extra run) is done in the transaction of the next batch, many
// uploads in one. A crash before leaves the row committing, for
// RecoverUploads to finish, as a failed FinishUpload does.
func (w *AuditWriter) Finish(t *Transfer, finished time.Time, extra func(tx *Store) error) {
	t.markFinished(finished, extra)
	w.Add(t)
}

// FinishAfter is Finish once prep has run, on a goroutine of its own that
// Close waits for: prep is what the finish needs and the reply must not
// wait for (hashing a big upload, which fills t.SHA256).
func (w *AuditWriter) FinishAfter(t *Transfer, finished time.Time, prep func(), extra func(tx *Store) error) {
	w.preps.Add(1)
	go func() {
		defer w.preps.Done()
		prep()
		w.Finish(t, finished, extra)
	}()
}

// Add queues a finished row. Only the first row of a batch wakes the
// writer (and a row that fills a batch ends its wait): a session's row
// costs an append, not a goroutine switch, which cost a DELE or a RETR
// more CPU than its audit row's INSERT.
func (w *AuditWriter) Add(t *Transfer) {
	if t.ID == "" {
		t.ID = NewID() // time-ordered: the row sorts by when it happened
	}
	w.mu.Lock()
	limit := w.Queue
	if limit <= 0 {
		limit = 4096
	}
	for w.running && len(w.rows) >= limit {
		w.room.Wait()
	}
	if !w.running {
		w.mu.Unlock()
		w.write([]*Transfer{t})
		return
	}
	w.track(t, 1)
	w.rows = append(w.rows, t)
	n := len(w.rows)
	if n == 1 {
		w.since = time.Now()
	}
	w.mu.Unlock()
	switch n {
	case 1:
		signal(w.wake)
	case auditBatch:
		signal(w.flush)
	}
}

// signal sets a one-slot signal, if not set.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Close waits for FinishAfter's work, writes the queued rows and stops the
// goroutine; it returns early (leaving the rest to the goroutines) when ctx
// is done.
func (w *AuditWriter) Close(ctx context.Context) error {
	prepped := make(chan struct{})
	go func() {
		w.preps.Wait()
		close(prepped)
	}()
	select {
	case <-prepped:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.mu.Lock()
	if !w.running {
		w.mu.Unlock()
		return nil
	}
	w.running = false
	w.room.Broadcast()
	done := w.done
	w.mu.Unlock()
	signal(w.wake)
	signal(w.flush) // no lingering for more
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run writes the queued rows in batches of up to auditBatch: a batch is
// written once its first row has waited Linger (or at a flush, or when it
// is full), also when it came while the previous batch was written (those
// rows were written at once, one to three at a time between batches of
// dozens: every other transaction carried almost nothing). After Close it
// writes what is left and returns.
func (w *AuditWriter) run(wake, flush <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	linger := w.Linger
	if linger == 0 {
		linger = 20 * time.Millisecond
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	batch := make([]*Transfer, 0, auditBatch)
	// current reports whether this goroutine is the running writer's (a
	// Start after a Close that returned early makes another).
	current := func() bool { return w.running && (<-chan struct{})(w.wake) == wake }
	for range wake {
		for {
			w.mu.Lock()
			wait := linger - time.Since(w.since)
			if !current() || len(w.rows) == 0 || len(w.rows) >= auditBatch {
				wait = 0
			}
			w.mu.Unlock()
			if wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-flush:
					timer.Stop()
				}
			}
			w.mu.Lock()
			n := min(len(w.rows), auditBatch)
			batch = append(batch[:0], w.rows[:n]...)
			rest := copy(w.rows, w.rows[n:])
			clear(w.rows[rest:])
			w.rows = w.rows[:rest]
			closing := !current()
			w.room.Broadcast()
			w.mu.Unlock()
			if n == 0 {
				if closing {
					return
				}
				break
			}
			w.write(batch)
			w.pmu.Lock()
			for _, t := range batch {
				w.trackLocked(t, -1)
			}
			if w.written != nil {
				close(w.written)
				w.written = nil
			}
			w.pmu.Unlock()
			clear(batch)
		}
	}
}

// track counts a queued row's usage change (d = 1) or its end (d = -1).
func (w *AuditWriter) track(t *Transfer, d int) {
	if !t.ApplyUsage || t.PartnerID == nil {
		return // most rows: no lock
	}
	w.pmu.Lock()
	w.trackLocked(t, d)
	w.pmu.Unlock()
}

func (w *AuditWriter) trackLocked(t *Transfer, d int) {
	if !t.ApplyUsage || t.PartnerID == nil {
		return
	}
	if w.pending == nil {
		w.pending = map[string]int{}
	}
	if w.pending[*t.PartnerID] += d; w.pending[*t.PartnerID] <= 0 {
		delete(w.pending, *t.PartnerID)
	}
}

// WaitUsage returns once no usage change of the partner is queued: the
// ones queued before the call are written (or failed), and the partner's
// counters in the database count them. It asks the writer not to wait for
// more rows. It returns at once when there are none, or before Start.
func (w *AuditWriter) WaitUsage(ctx context.Context, partnerID string) error {
	for {
		w.pmu.Lock()
		if w.pending[partnerID] == 0 {
			w.pmu.Unlock()
			return nil
		}
		if w.written == nil {
			w.written = make(chan struct{})
		}
		written := w.written
		w.pmu.Unlock()
		signal(w.flush)
		select {
		case <-written:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// write stores rows in one transaction (in more when a transaction that
// a client waits for comes meanwhile, see recordTransfers), or one by one
// if that fails, so that one bad row (say, of a partner deleted meanwhile)
// costs only itself.
func (w *AuditWriter) write(rows []*Transfer) {
	for len(rows) > 0 {
		rest, err := w.writeSome(rows)
		if err != nil {
			w.failed(rows, err)
			return
		}
		rows = rest
	}
}

// writeSome writes rows, or some of them when it yields; it returns the
// rest.
func (w *AuditWriter) writeSome(rows []*Transfer) ([]*Transfer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var then func(tx *Store, written []*Transfer) error
	if w.OnWrite != nil {
		then = func(tx *Store, written []*Transfer) error { return w.OnWrite(ctx, tx, written) }
	}
	rest, err := w.Store.recordTransfers(ctx, rows, then, true)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return rest, err
}

// failed writes rows that failed together one by one; a row that fails
// alone is written without what OnWrite adds, or logged.
func (w *AuditWriter) failed(rows []*Transfer, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		// The database did not take them within 30 s: no retry.
		w.log("write audit rows", rows, err)
		return
	}
	if len(rows) > 1 {
		for _, t := range rows {
			w.write([]*Transfer{t})
		}
		return
	}
	defer func() {
		// A logged upload's intent goes where recovery finishes it, as the
		// intent of any upload whose finish failed stays there.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if ok, perr := w.Store.ParkLoggedUpload(ctx, rows[0]); ok && perr != nil {
			w.log("keep the intent of an upload whose finish failed (the next start recovers it)", rows, perr)
		}
	}()
	if w.OnWrite != nil {
		// The row alone, without what OnWrite adds: the audit row matters
		// more than its event.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err2 := w.Store.RecordTransfers(ctx, rows, nil); err2 == nil {
			w.log("write the events of an audit row", rows, err)
			return
		}
	}
	w.log("write audit rows", rows, err)
}

func (w *AuditWriter) log(msg string, rows []*Transfer, err error) {
	if w.Logger != nil {
		t := rows[0]
		w.Logger.Error(msg, "rows", len(rows), "operation", t.Operation, "path", t.Path, "user", t.Username, "err", err)
	}
}
