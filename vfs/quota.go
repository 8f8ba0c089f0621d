package vfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"time"

	"github.com/spf13/afero"
)

// ErrQuotaExceeded is returned when a write would pass the quota (FTP 552).
var ErrQuotaExceeded = errors.New("quota exceeded")

// Limits are a tree's quota and current usage; zero maxima mean unlimited.
type Limits struct {
	MaxBytes, MaxFiles   int64
	UsedBytes, UsedFiles int64
}

// Limiter reports the current limits of a tree (read from the database, so
// every node sees the same usage).
type Limiter interface {
	Limits(ctx context.Context) (Limits, error)
}

// LimiterFunc adapts a function to Limiter.
type LimiterFunc func(ctx context.Context) (Limits, error)

// Limits implements Limiter.
func (f LimiterFunc) Limits(ctx context.Context) (Limits, error) { return f(ctx) }

// Stager is a backend that holds data outside the visible tree: Atomic's
// staging folder of interrupted uploads and uploads being written.
type Stager interface {
	// StagedUsage sums the staged data, leaving out that of the name except.
	StagedUsage(except string) (bytes, files int64, err error)
}

// Quota stops uploads that would take a tree past its byte or file quota,
// while they are written, so the client gets 552 at once rather than after
// sending everything. The exact accounting happens when an upload is
// published (see Committer); Quota is the early check.
//
// Staged data counts as used while it is kept: when base is a Stager, the
// staging folder's bytes and files (other names' interrupted uploads and
// uploads in progress) are taken from what an upload may write, and a
// broken upload is kept for a resume only if it still fits beside them.
// So interrupted uploads never hold more than the quota leaves free. They
// are counted from the disk at each check, not in the usage counters:
// deleting, resuming or sweeping a partial has nothing to give back.
type Quota struct {
	base  afero.Fs
	ctx   context.Context
	limit Limiter
}

var _ afero.Fs = (*Quota)(nil)

// NewQuota wraps base with the limits from l.
func NewQuota(ctx context.Context, base afero.Fs, l Limiter) *Quota {
	return &Quota{base: base, ctx: ctx, limit: l}
}

// Name implements afero.Fs.
func (q *Quota) Name() string { return "vfs.Quota(" + q.base.Name() + ")" }

// OpenFile implements afero.Fs.
func (q *Quota) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC) == 0 {
		return q.base.OpenFile(name, flag, perm)
	}
	lim, err := q.limit.Limits(q.ctx)
	if err != nil {
		return nil, fmt.Errorf("vfs: read quota: %w", err)
	}
	if lim.MaxBytes <= 0 && lim.MaxFiles <= 0 {
		return q.base.OpenFile(name, flag, perm)
	}
	var prev int64
	exists := false
	if fi, err := q.base.Stat(name); err == nil && !IsPartial(fi) {
		prev, exists = fi.Size(), true
	}
	allowed, err := q.room(name, lim, prev, exists)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	f, err := q.base.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	size := int64(0)
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	return &quotaFile{File: f, q: q, name: name, prev: prev, exists: exists, allowed: allowed, size: size, pos: size}, nil
}

// room returns how large the file name may grow under lim (what is free
// plus what the file it replaces takes, less what other names have
// staged), or ErrQuotaExceeded when a new file would pass the file quota.
func (q *Quota) room(name string, lim Limits, prev int64, exists bool) (int64, error) {
	var stagedBytes, stagedFiles int64
	if s, ok := q.base.(Stager); ok {
		var err error
		if stagedBytes, stagedFiles, err = s.StagedUsage(name); err != nil {
			return 0, fmt.Errorf("vfs: count staged uploads: %w", err)
		}
	}
	if !exists && lim.MaxFiles > 0 && lim.UsedFiles+stagedFiles >= lim.MaxFiles {
		return 0, fmt.Errorf("%w: %d of %d files used, %d more held by interrupted uploads",
			ErrQuotaExceeded, lim.UsedFiles, lim.MaxFiles, stagedFiles)
	}
	if lim.MaxBytes <= 0 {
		return math.MaxInt64, nil
	}
	return lim.MaxBytes - lim.UsedBytes - stagedBytes + prev, nil
}

// Create implements afero.Fs.
func (q *Quota) Create(name string) (afero.File, error) {
	return q.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
}

// The rest passes through.

// Mkdir implements afero.Fs.
func (q *Quota) Mkdir(name string, perm os.FileMode) error { return q.base.Mkdir(name, perm) }

// MkdirAll implements afero.Fs.
func (q *Quota) MkdirAll(name string, perm os.FileMode) error { return q.base.MkdirAll(name, perm) }

// Open implements afero.Fs.
func (q *Quota) Open(name string) (afero.File, error) { return q.base.Open(name) }

// Remove implements afero.Fs.
func (q *Quota) Remove(name string) error { return q.base.Remove(name) }

// RemoveFile implements FileRemover.
func (q *Quota) RemoveFile(name string) (os.FileInfo, error) { return RemoveFile(q.base, name) }

// RemoveAll implements afero.Fs.
func (q *Quota) RemoveAll(name string) error { return q.base.RemoveAll(name) }

// Rename implements afero.Fs.
func (q *Quota) Rename(o, n string) error { return q.base.Rename(o, n) }

// Stat implements afero.Fs.
func (q *Quota) Stat(name string) (os.FileInfo, error) { return q.base.Stat(name) }

// Chmod implements afero.Fs.
func (q *Quota) Chmod(name string, mode os.FileMode) error { return q.base.Chmod(name, mode) }

// Chown implements afero.Fs.
func (q *Quota) Chown(name string, uid, gid int) error { return q.base.Chown(name, uid, gid) }

// Chtimes implements afero.Fs.
func (q *Quota) Chtimes(name string, a, m time.Time) error { return q.base.Chtimes(name, a, m) }

// quotaFile refuses writes past the allowed size; the refused upload is
// marked failed so it is not published.
type quotaFile struct {
	afero.File
	q         *Quota
	name      string
	prev      int64
	exists    bool
	allowed   int64
	size, pos int64
	broken    bool // the transfer failed: the data would be kept for a resume
	refused   bool // a write passed the quota: the data is dropped
}

func (f *quotaFile) Write(p []byte) (int, error) {
	if end := f.pos + int64(len(p)); end > f.allowed {
		err := fmt.Errorf("%w: the file would need %d bytes, %d are available", ErrQuotaExceeded, end, f.allowed)
		f.refused = true
		f.TransferError(err)
		return 0, err
	}
	n, err := f.File.Write(p)
	f.pos += int64(n)
	if f.pos > f.size {
		f.size = f.pos
	}
	return n, err
}

func (f *quotaFile) WriteString(s string) (int, error) { return f.Write([]byte(s)) }

func (f *quotaFile) Seek(offset int64, whence int) (int64, error) {
	n, err := f.File.Seek(offset, whence)
	if err == nil {
		f.pos = n
	}
	return n, err
}

// TransferError passes the engine's transfer failure down to the upload.
func (f *quotaFile) TransferError(err error) {
	f.broken = true
	if te, ok := f.File.(interface{ TransferError(error) }); ok {
		te.TransferError(err)
	}
}

// Close keeps a broken upload for a resume only if it still fits the quota
// beside the data already staged and the files published meanwhile;
// otherwise it is dropped as an upload refused for quota is.
func (f *quotaFile) Close() error {
	if f.broken && !f.refused && f.size > 0 {
		if err := f.fits(); err != nil {
			f.TransferError(err)
		}
	}
	return f.File.Close()
}

func (f *quotaFile) fits() error {
	// The session may be ending (a broken upload often ends it): the check
	// still runs.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(f.q.ctx), 10*time.Second)
	defer cancel()
	lim, err := f.q.limit.Limits(ctx)
	if err != nil {
		return nil // keep it: losing a resumable upload to a database hiccup is worse
	}
	if lim.MaxBytes <= 0 && lim.MaxFiles <= 0 {
		return nil
	}
	allowed, err := f.q.room(f.name, lim, f.prev, f.exists)
	if err != nil {
		if errors.Is(err, ErrQuotaExceeded) {
			return err
		}
		return nil
	}
	if f.size > allowed {
		return fmt.Errorf("%w: %d bytes of an interrupted upload, %d are available", ErrQuotaExceeded, f.size, allowed)
	}
	return nil
}
