package store

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"time"
)

// changeStamp tells the processes on one SQLite database that something
// they may keep in memory changed: every process that changes it appends
// a byte to a file beside the database once its transaction has committed
// (bump), and a process that keeps a copy compares the file's stat with the
// one it took before it read the copy (read). A stat is a system call,
// where a read of the database on a pooled connection costs a read
// transaction and, after any other connection's commit, the page re-reads
// of a stale cache: ~90 µs of CPU on every small upload of a partner
// without a quota (2026-12-07).
//
// A process that dies between its commit and its bump leaves the others'
// copies stale: they are read again after a while all the same
// (quotaRecheck). Between the commit and the bump the change is not
// finished for whoever made it (`ferry partner set` has not returned).
type changeStamp struct {
	path string // "" : no file (an in-memory database); read never matches
	log  *slog.Logger
}

// stamp is what read saw of the file: nil fi when it did not exist.
type stamp struct {
	fi fs.FileInfo
	ok bool // the file could be stat'ed (or was known absent)
}

// same reports whether a and b saw the file unchanged; a stamp that could
// not be taken matches nothing.
func (a stamp) same(b stamp) bool {
	if !a.ok || !b.ok {
		return false
	}
	if a.fi == nil || b.fi == nil {
		return a.fi == nil && b.fi == nil
	}
	return os.SameFile(a.fi, b.fi) && a.fi.Size() == b.fi.Size() && a.fi.ModTime().Equal(b.fi.ModTime())
}

// read takes the file's stamp now.
func (c changeStamp) read() stamp {
	if c.path == "" {
		return stamp{}
	}
	fi, err := os.Stat(c.path)
	switch {
	case err == nil:
		return stamp{fi: fi, ok: true}
	case errors.Is(err, fs.ErrNotExist):
		return stamp{ok: true}
	}
	return stamp{}
}

// bump marks a change, after its commit. The file grows by a byte a
// change (changes of partners are an administrator's, not traffic); the
// process that keeps copies empties it when it starts (reset).
func (c changeStamp) bump() {
	if c.path == "" {
		return
	}
	f, err := os.OpenFile(c.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil {
		_, err = f.Write([]byte{'\n'})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil && c.log != nil {
		c.log.Warn("could not mark a change of partners for the server's caches; they see it within "+quotaRecheck.String(),
			"path", c.path, "err", err)
	}
}

// reset empties the file, for the one process that keeps copies, before
// it keeps any; the file is that process's (its owner and mode), so that a
// change made by an administrator's command appends to it without taking
// it from the server.
func (c changeStamp) reset() error {
	if c.path == "" {
		return nil
	}
	if err := os.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.WriteFile(c.path, nil, 0o600)
}

// quotaRecheck is how long a partner seen without a quota is taken to have
// none when no change of partners was marked (changeStamp): the bound for
// a process that committed a change and died before marking it.
const quotaRecheck = 2 * time.Second
