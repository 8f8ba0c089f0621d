// Package intentlog keeps records of work in progress in an append-only
// file, for a process to find again what it was doing when it died.
//
// Each Add is one write(2) of one line: once Add returns, the record is in
// the kernel's page cache and outlives the process (not a crash of the
// machine: nothing is synced, as SQLite's WAL at synchronous=NORMAL is
// not). Done forgets records: the file is emptied when none is left open,
// and rewritten with only the open ones when it grows past its limit. Open
// returns the records a previous process left open.
//
// A Log is one process's: Open takes an exclusive flock on the file, and a
// second Open of it fails with ErrLocked until the first is closed.
package intentlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// ErrLocked is Open's error when another Log has the file open.
var ErrLocked = errors.New("intentlog: the file is in use by another process")

// ErrClosed is the error of a Log's methods after Close.
var ErrClosed = errors.New("intentlog: closed")

// maxLine bounds a record's line: Add refuses a longer one, and one read
// back is skipped.
const maxLine = 64 << 10

// Record is an open record: its ID and the data Add was given.
type Record struct {
	ID   string
	Data json.RawMessage
}

// line is one line of the file: a record added, or records done.
type line struct {
	Add  string          `json:"add,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
	Done []string        `json:"done,omitempty"`
}

// Log is an open intent log.
type Log struct {
	path  string
	limit int64

	mu   sync.Mutex
	f    *os.File // nil once closed
	size int64
	open map[string][]byte // ID: its line, for a rewrite
}

// Open opens the log at path, creating it if needed, and returns the
// records it holds open, oldest first (they stay open until Done). A line
// a crash cut short is skipped. limit is the size past which Done rewrites
// the file with the open records only (at least 64 KiB).
func Open(path string, limit int64) (*Log, []Record, error) {
	f, err := lockedFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND)
	if err != nil {
		return nil, nil, err
	}
	l := &Log{path: path, limit: max(limit, 64<<10), f: f, open: map[string][]byte{}}
	var order []string
	data := map[string]json.RawMessage{}
	r := bufio.NewReaderSize(f, maxLine)
	var whole int64 // the file up to the end of its last whole line
	for {
		b, err := r.ReadSlice('\n')
		long := false
		for errors.Is(err, bufio.ErrBufferFull) { // longer than any line Add writes: skipped
			l.size += int64(len(b))
			long = true
			b, err = r.ReadSlice('\n')
		}
		l.size += int64(len(b))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("intentlog: read %s: %w", path, err)
		}
		whole = l.size
		var ln line
		if long || json.Unmarshal(b, &ln) != nil {
			continue
		}
		switch {
		case ln.Add != "":
			if _, ok := l.open[ln.Add]; !ok {
				order = append(order, ln.Add)
			}
			l.open[ln.Add] = bytes.Clone(b)
			data[ln.Add] = bytes.Clone(ln.Data)
		default:
			for _, id := range ln.Done {
				delete(l.open, id)
			}
		}
	}
	if l.size > whole {
		// A last line a crash cut short: cut off, or the next line would
		// run into it.
		if err := f.Truncate(whole); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("intentlog: cut %s short: %w", path, err)
		}
		l.size = whole
	}
	var recs []Record
	for _, id := range order {
		if _, ok := l.open[id]; ok {
			recs = append(recs, Record{ID: id, Data: data[id]})
			delete(data, id) // an ID added twice is returned once
		}
	}
	if len(l.open) == 0 && l.size > 0 {
		if err := l.truncate(); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	return l, recs, nil
}

// lockedFile opens path with flag and takes its exclusive lock.
func lockedFile(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("intentlog: %w", err)
	}
	if err := lock(f); err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return nil, fmt.Errorf("intentlog: lock %s: %w", path, err)
	}
	return f, nil
}

// Add records data (JSON) as open under id, in one write.
func (l *Log) Add(id string, data json.RawMessage) error {
	if id == "" {
		return errors.New("intentlog: a record needs an ID")
	}
	b, err := json.Marshal(line{Add: id, Data: data})
	if err != nil {
		return fmt.Errorf("intentlog: %w", err)
	}
	b = append(b, '\n')
	if len(b) > maxLine {
		return fmt.Errorf("intentlog: record %s: %d bytes, at most %d", id, len(b), maxLine)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.write(b); err != nil {
		return err
	}
	l.open[id] = b
	return nil
}

// Done forgets the records of ids (an ID not open is ignored).
func (l *Log) Done(ids ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return ErrClosed
	}
	var done []string
	for _, id := range ids {
		if _, ok := l.open[id]; ok {
			delete(l.open, id)
			done = append(done, id)
		}
	}
	switch {
	case len(done) == 0:
		return nil
	case len(l.open) == 0:
		return l.truncate()
	case l.size > l.limit:
		return l.rewrite()
	}
	b, err := json.Marshal(line{Done: done})
	if err != nil {
		return fmt.Errorf("intentlog: %w", err)
	}
	return l.write(append(b, '\n'))
}

// Len is how many records are open.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.open)
}

// Close closes the file; the open records stay in it for the next Open.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// write appends b in one write; a write cut short is taken back, so that
// the next line does not run into it.
func (l *Log) write(b []byte) error {
	if l.f == nil {
		return ErrClosed
	}
	n, err := l.f.Write(b)
	if err != nil {
		if n > 0 {
			_ = l.f.Truncate(l.size)
		}
		return fmt.Errorf("intentlog: append to %s: %w", l.path, err)
	}
	l.size += int64(n)
	return nil
}

func (l *Log) truncate() error {
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("intentlog: empty %s: %w", l.path, err)
	}
	l.size = 0
	return nil
}

// rewrite replaces the file with one of the open records only: written
// beside it, then renamed over it, so that a crash leaves one or the
// other whole.
func (l *Log) rewrite() error {
	tmp := l.path + ".new"
	f, err := lockedFile(tmp, os.O_RDWR|os.O_TRUNC|os.O_APPEND)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, b := range l.open {
		buf.Write(b)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("intentlog: rewrite %s: %w", l.path, err)
	}
	if err := os.Rename(tmp, l.path); err != nil {
		f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("intentlog: rewrite %s: %w", l.path, err)
	}
	l.f.Close()
	l.f, l.size = f, int64(buf.Len())
	return nil
}
