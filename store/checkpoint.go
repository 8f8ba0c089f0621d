package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// walCheckpointer copies SQLite's write-ahead log into the database file
// on a goroutine of its own. SQLite's automatic checkpoint (turned off:
// Open sets wal_autocheckpoint(0)) runs inside the commit that takes the
// log past 1,000 pages and syncs the log and the database file: 6-8 ms on
// the development machine, which one upload reservation in forty or so
// spent before its 226, with every transaction queued behind it.
//
// A PASSIVE checkpoint copies without waiting for readers or blocking
// writers. The log starts over when a write finds it all copied; under
// writes that never leave it so, the checkpointer copies the few frames
// left in a turn of the write queue (restartFrames).
type walCheckpointer struct {
	conn   *sql.Conn // its own connection, with no busy wait
	queue  *writeQueue
	log    *slog.Logger
	writes atomic.Int32 // write transactions since the last checkpoint
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
}

const (
	// checkpointWrites is how many write transactions wake the
	// checkpointer (an upload writes about fifteen pages of log).
	checkpointWrites = 64
	// checkpointInterval is how often it runs anyway, for writes made
	// outside a transaction and for the last ones of a burst.
	checkpointInterval = time.Second
	// restartFrames is the log's length (in pages) past which the
	// checkpointer takes a turn of the write queue to start it over.
	restartFrames = 4096
)

// startCheckpointer starts q's checkpointer on a connection of db's.
func startCheckpointer(ctx context.Context, db *sql.DB, q *writeQueue, log *slog.Logger) (*walCheckpointer, error) {
	if log == nil {
		log = slog.Default()
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: connection for WAL checkpoints: %w", err)
	}
	// A checkpoint that would wait for a reader gives up and retries later.
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("store: connection for WAL checkpoints: %w", err)
	}
	c := &walCheckpointer{conn: conn, queue: q, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{}),
		done: make(chan struct{})}
	go c.run()
	return c, nil
}

func (c *walCheckpointer) run() {
	defer close(c.done)
	defer c.conn.Close()
	tick := time.NewTicker(checkpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		case <-tick.C:
		}
		if err := c.checkpoint(); err != nil {
			c.log.Warn("store: WAL checkpoint failed; the next one retries", "err", err)
		}
	}
}

func (c *walCheckpointer) checkpoint() error {
	c.writes.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	frames, err := c.run1(ctx, "PASSIVE")
	if err != nil || frames < restartFrames {
		return err
	}
	// Writes keep the log from being all copied when the next one starts:
	// copy the rest with them held back, so that the next one starts it
	// over. Most of it was copied above, without them waiting.
	if err := c.queue.acquire(ctx); err != nil {
		return err
	}
	defer c.queue.release()
	_, err = c.run1(ctx, "RESTART")
	return err
}

// run1 runs one checkpoint of mode; it returns the log's length in pages.
func (c *walCheckpointer) run1(ctx context.Context, mode string) (frames int, err error) {
	var busy, copied int
	if err := c.conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied); err != nil {
		return 0, fmt.Errorf("%s: %w", mode, err)
	}
	return frames, nil
}

// wrote counts a write transaction, ended.
func (c *walCheckpointer) wrote() {
	if c.writes.Add(1) == checkpointWrites {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// close stops the checkpointer and waits for it; the database's last
// connection copies what is left as it closes.
func (c *walCheckpointer) close() {
	c.closed.Do(func() { close(c.stop) })
	<-c.done
}
