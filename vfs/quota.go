package vfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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

// Quota stops uploads that would take a tree past its byte or file quota,
// while they are written, so the client gets 552 at once rather than after
// sending everything. The exact accounting happens when an upload is
// published (see Committer); Quota is the early check.
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
	var prev int64
	exists := false
	if fi, err := q.base.Stat(name); err == nil && !IsPartial(fi) {
		prev, exists = fi.Size(), true
	}
	if !exists && lim.MaxFiles > 0 && lim.UsedFiles >= lim.MaxFiles {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w: %d of %d files used", ErrQuotaExceeded, lim.UsedFiles, lim.MaxFiles)}
	}
	f, err := q.base.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if lim.MaxBytes <= 0 {
		return f, nil
	}
	size := int64(0)
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	// The file may grow to what is free plus what it already takes.
	allowed := lim.MaxBytes - lim.UsedBytes + prev
	return &quotaFile{File: f, allowed: allowed, size: size, pos: size}, nil
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
	allowed   int64
	size, pos int64
}

func (f *quotaFile) Write(p []byte) (int, error) {
	if end := f.pos + int64(len(p)); end > f.allowed {
		err := fmt.Errorf("%w: the file would need %d bytes, %d are available", ErrQuotaExceeded, end, f.allowed)
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
	if te, ok := f.File.(interface{ TransferError(error) }); ok {
		te.TransferError(err)
	}
}
