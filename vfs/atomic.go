package vfs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/afero"
)

// StagingDir is the folder, at the root of a tree, where uploads are
// written until they are complete. Atomic hides it: it is never listed and
// no name inside it can be opened, created, renamed or removed by a client.
const StagingDir = ".ferry-partial"

// Upload describes a finished upload about to be published.
type Upload struct {
	// Name is the clean absolute path in the tree; a committer may change
	// it (and Size, Replaces, PrevSize) before publish to publish the data
	// it rewrote in Staged under another name.
	Name     string
	Size     int64     // size of the complete file
	Written  int64     // bytes this transfer wrote (less than Size when resumed)
	PrevSize int64     // size of the file it replaces
	Replaces bool      // a finished file of that name exists
	SHA256   []byte    // of the complete file; nil: see Hash
	Started  time.Time // when the transfer opened the file
	Staged   string    // where the data waits, relative to the tree root

	// Hash, set when SHA256 is nil (an upload over InlineHashMax), returns
	// the SHA-256 of the staged data. It reads through a handle of its
	// own, which the rename and whatever later happens to the name do not
	// affect (an upload never writes into a published file), so it can run
	// after publish, off the path to the client's reply. After a
	// successful publish the committer must call it (it releases the
	// handle); it may call it before publish too, and later calls return
	// the first one's result.
	Hash func() ([]byte, error)
}

// InlineHashMax is the largest upload hashed before it is published. A
// bigger one is hashed by its committer after publish (Upload.Hash):
// SHA-256 runs at about 1.5 GB/s per core here, so in line it held the
// 226 of a 512 MiB upload back by a third of a second and took a core from
// the transfer while the data arrived.
const InlineHashMax = 512 << 10

// Committer decides whether a complete upload is published. CommitUpload
// must call publish exactly once to make the file visible (an atomic
// rename), typically between recording the upload and marking it done; if
// it returns an error the upload fails and its data stays staged, so the
// client can retry or resume.
type Committer interface {
	CommitUpload(ctx context.Context, u *Upload, publish func() error) error
}

// Atomic makes uploads appear all at once: a file being written lives in
// StagingDir and only a complete upload is renamed into place, so no
// listing, download or notification ever sees half a file. An interrupted
// upload stays staged under a name derived from its path; Stat reports its
// size (so SIZE tells a client where to resume) and REST+STOR or APPE
// continue it. Reads pass straight through as the backend's files.
type Atomic struct {
	base   afero.Fs
	ctx    context.Context
	commit Committer

	// NoSync leaves writing an upload to disk to the operating system, as
	// vsftpd, ProFTPD and Pure-FTPd do: it is published (renamed into
	// place) without waiting for the disk. A crash of Ferry loses nothing
	// either way; a power cut or kernel crash soon after may lose or empty
	// recently published files. By default an upload's data and folder
	// are synced before it is published.
	NoSync bool
}

var _ afero.Fs = (*Atomic)(nil)

// NewAtomic wraps base, the root of one tree. commit may be nil (publish
// at once). ctx bounds the commits of this wrapper's uploads.
func NewAtomic(ctx context.Context, base afero.Fs, commit Committer) *Atomic {
	return &Atomic{base: base, ctx: ctx, commit: commit}
}

// ErrStaging is returned for names inside the staging folder.
var ErrStaging = errors.New("reserved name")

// ErrInvalidOffset is returned when a transfer restarts before the start or
// beyond the data that arrived.
var ErrInvalidOffset = errors.New("restart position is outside the data of the upload")

func clean(name string) string { return path.Clean("/" + name) }

func staged(name string) bool {
	c := clean(name)
	return c == "/"+StagingDir || strings.HasPrefix(c, "/"+StagingDir+"/")
}

func refuse(op, name string) error {
	return &fs.PathError{Op: op, Path: clean(name), Err: ErrStaging}
}

// PartialPath is where an interrupted upload of name waits, relative to the
// tree root.
func PartialPath(name string) string { return partialName(name) }

func partialName(name string) string {
	sum := sha256.Sum256([]byte(clean(name)))
	return "/" + StagingDir + "/" + hex.EncodeToString(sum[:16])
}

func uniqueName(name string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return partialName(name) + "." + hex.EncodeToString(b[:])
}

// PartialInfo is what Stat returns for a name that only has a staged,
// interrupted upload.
type PartialInfo struct {
	fs.FileInfo
	name string
}

// Name reports the client's file name, not the staging name.
func (p PartialInfo) Name() string { return p.name }

// Partial marks the info as an interrupted upload, not a finished file.
func (PartialInfo) Partial() bool { return true }

// IsPartial reports whether fi describes an interrupted upload.
func IsPartial(fi fs.FileInfo) bool {
	p, ok := fi.(interface{ Partial() bool })
	return ok && p.Partial()
}

// Name implements afero.Fs.
func (a *Atomic) Name() string { return "vfs.Atomic(" + a.base.Name() + ")" }

// Create implements afero.Fs.
func (a *Atomic) Create(name string) (afero.File, error) {
	return a.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
}

// Mkdir implements afero.Fs.
func (a *Atomic) Mkdir(name string, perm os.FileMode) error {
	if staged(name) {
		return refuse("mkdir", name)
	}
	return a.base.Mkdir(name, perm)
}

// MkdirAll implements afero.Fs.
func (a *Atomic) MkdirAll(name string, perm os.FileMode) error {
	if staged(name) {
		return refuse("mkdir", name)
	}
	return a.base.MkdirAll(name, perm)
}

// Open implements afero.Fs; the root folder is listed without StagingDir.
func (a *Atomic) Open(name string) (afero.File, error) {
	if staged(name) {
		return nil, refuse("open", name)
	}
	f, err := a.base.Open(name)
	if err != nil || clean(name) != "/" {
		return f, err
	}
	return &hidingDir{File: f}, nil
}

// OpenFile implements afero.Fs. Opening for writing starts (or resumes) a
// staged upload.
func (a *Atomic) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if staged(name) {
		return nil, refuse("open", name)
	}
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC) == 0 {
		if clean(name) == "/" {
			return a.Open(name)
		}
		return a.base.OpenFile(name, flag, perm)
	}
	fi, err := a.base.Stat(name)
	switch {
	case err == nil && fi.IsDir():
		return nil, &fs.PathError{Op: "open", Path: clean(name), Err: syscall.EISDIR}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	replaces := err == nil
	var prev int64
	if replaces {
		prev = fi.Size()
	}
	if err := a.base.MkdirAll("/"+StagingDir, 0o750); err != nil {
		return nil, fmt.Errorf("vfs: staging folder: %w", err)
	}
	unique := uniqueName(name)
	var f afero.File
	if flag&os.O_TRUNC == 0 {
		// Resume or append: claim the interrupted upload (rename is atomic,
		// so two sessions never write one staged file), or start from the
		// finished file's bytes.
		claimed, err := a.claimPartial(name, unique, perm)
		if err != nil {
			return nil, err
		}
		switch {
		case claimed != nil:
			f = claimed
		case replaces:
			f, err = a.copyToStaging(name, unique, perm)
			if err != nil {
				return nil, err
			}
		}
	}
	if f == nil {
		f, err = a.base.OpenFile(unique, os.O_RDWR|os.O_CREATE|os.O_TRUNC, perm)
		if err != nil {
			return nil, err
		}
	}
	// The lock tells other sessions and nodes that this upload is alive; it
	// goes away with the file or the process.
	lockFile(f)
	af := &atomicFile{File: f, fs: a, name: clean(name), unique: unique,
		replaces: replaces, prevSize: prev, started: time.Now()}
	// Continue after what is already there.
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		af.abandon()
		return nil, fmt.Errorf("vfs: read partial upload: %w", err)
	}
	af.size, af.pos = n, n
	if n == 0 {
		af.hash = sha256.New()
	}
	return af, nil
}

func (a *Atomic) copyToStaging(name, unique string, perm os.FileMode) (afero.File, error) {
	src, err := a.base.Open(name)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := a.base.OpenFile(unique, os.O_RDWR|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		_ = a.base.Remove(unique)
		return nil, fmt.Errorf("vfs: copy %s for append: %w", clean(name), err)
	}
	if _, err := dst.Seek(0, io.SeekStart); err != nil {
		dst.Close()
		_ = a.base.Remove(unique)
		return nil, err
	}
	return dst, nil
}

// Remove implements afero.Fs. It also drops an interrupted upload of the
// name, and removing a name that only has one abandons it.
func (a *Atomic) Remove(name string) error {
	if staged(name) {
		return refuse("remove", name)
	}
	err := a.base.Remove(name)
	perr := a.base.Remove(partialName(name))
	if errors.Is(err, fs.ErrNotExist) && perr == nil {
		return nil
	}
	return err
}

// RemoveFile implements FileRemover, as Remove: an interrupted upload of
// the name goes with the file. A name that only has one is reported as
// PartialInfo (it never counted toward the quota).
func (a *Atomic) RemoveFile(name string) (os.FileInfo, error) {
	if staged(name) {
		return nil, refuse("remove", name)
	}
	fi, err := RemoveFile(a.base, name)
	if fi != nil && fi.IsDir() {
		return fi, err
	}
	var partial os.FileInfo
	if errors.Is(err, fs.ErrNotExist) {
		partial = a.partialInfo(name)
	}
	perr := a.base.Remove(partialName(name))
	if errors.Is(err, fs.ErrNotExist) && perr == nil {
		if partial == nil {
			return nil, nil
		}
		return PartialInfo{FileInfo: partial, name: path.Base(clean(name))}, nil
	}
	return fi, err
}

// RemoveAll implements afero.Fs.
func (a *Atomic) RemoveAll(name string) error {
	if staged(name) || clean(name) == "/" {
		return refuse("remove", name)
	}
	return a.base.RemoveAll(name)
}

// Rename implements afero.Fs.
func (a *Atomic) Rename(oldname, newname string) error {
	if staged(oldname) || staged(newname) {
		return refuse("rename", oldname)
	}
	return a.base.Rename(oldname, newname)
}

// Stat implements afero.Fs: a finished file, or else an interrupted upload
// as PartialInfo.
func (a *Atomic) Stat(name string) (os.FileInfo, error) {
	if staged(name) {
		return nil, refuse("stat", name)
	}
	fi, err := a.base.Stat(name)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || clean(name) == "/" {
		return fi, err
	}
	if pfi := a.partialInfo(name); pfi != nil {
		return PartialInfo{FileInfo: pfi, name: path.Base(clean(name))}, nil
	}
	return nil, err
}

// Chmod implements afero.Fs.
func (a *Atomic) Chmod(name string, mode os.FileMode) error {
	if staged(name) {
		return refuse("chmod", name)
	}
	return a.base.Chmod(name, mode)
}

// Chown implements afero.Fs.
func (a *Atomic) Chown(name string, uid, gid int) error {
	if staged(name) {
		return refuse("chown", name)
	}
	return a.base.Chown(name, uid, gid)
}

// Chtimes implements afero.Fs.
func (a *Atomic) Chtimes(name string, atime, mtime time.Time) error {
	if staged(name) {
		return refuse("chtimes", name)
	}
	return a.base.Chtimes(name, atime, mtime)
}

// orphanAge is how long a staged file of a backend without file locks must
// sit unchanged before another session may take it over.
const orphanAge = time.Minute

// stagedFiles lists the staging files of name: its resume slot and the
// files of uploads in progress or left by a crash.
func (a *Atomic) stagedFiles(name string) []os.FileInfo {
	d, err := a.base.Open("/" + StagingDir)
	if err != nil {
		return nil
	}
	defer d.Close()
	infos, err := d.Readdir(-1)
	if err != nil {
		return nil
	}
	slot := path.Base(partialName(name))
	var out []os.FileInfo
	for _, fi := range infos {
		if fi.Name() == slot || strings.HasPrefix(fi.Name(), slot+".") {
			out = append(out, fi)
		}
	}
	// The resume slot first, then the newest.
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name() == slot) != (out[j].Name() == slot) {
			return out[i].Name() == slot
		}
		return out[i].ModTime().After(out[j].ModTime())
	})
	return out
}

// partialInfo describes the data of an interrupted upload of name, if
// any: the resume slot, or a file whose writer is gone. An upload still
// being written is not reported.
func (a *Atomic) partialInfo(name string) os.FileInfo {
	slot := path.Base(partialName(name))
	for _, fi := range a.stagedFiles(name) {
		if fi.Name() == slot {
			return fi
		}
		f, err := a.base.Open("/" + StagingDir + "/" + fi.Name())
		if err != nil {
			continue
		}
		free, known := tryLock(f)
		f.Close()
		if !known {
			free = time.Since(fi.ModTime()) > orphanAge
		}
		if free {
			return fi
		}
	}
	return nil
}

// claimPartial takes over the staged data of an interrupted upload of name
// under the new name unique: the resume slot, or a file whose writer is
// gone (its lock is free: the session ended or the process died). It
// returns nil when there is nothing to resume.
func (a *Atomic) claimPartial(name, unique string, perm os.FileMode) (afero.File, error) {
	for _, fi := range a.stagedFiles(name) {
		p := "/" + StagingDir + "/" + fi.Name()
		f, err := a.base.OpenFile(p, os.O_RDWR, perm)
		if err != nil {
			continue
		}
		free, known := tryLock(f)
		if !known {
			free = fi.Name() == path.Base(partialName(name)) || time.Since(fi.ModTime()) > orphanAge
		}
		if !free {
			f.Close()
			continue
		}
		if err := a.base.Rename(p, unique); err != nil {
			// Someone else claimed it first.
			f.Close()
			continue
		}
		return f, nil
	}
	return nil, nil
}

// SweepStaging removes interrupted uploads older than maxAge and returns
// how many it removed (they would otherwise wait for a resume forever).
func (a *Atomic) SweepStaging(maxAge time.Duration) (int, error) {
	d, err := a.base.Open("/" + StagingDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	infos, err := d.Readdir(-1)
	d.Close()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, fi := range infos {
		if time.Since(fi.ModTime()) > maxAge {
			if err := a.base.Remove("/" + StagingDir + "/" + fi.Name()); err == nil {
				n++
			}
		}
	}
	return n, nil
}

// StagedUsage sums what the staging folder holds — interrupted uploads
// kept for a resume and uploads being written — leaving out the staged data
// of the name except ("" leaves out nothing): that is the upload about to
// be written, counted as its own file. Quota counts the result as used, so
// that interrupted uploads cannot hold more than the partner's quota.
func (a *Atomic) StagedUsage(except string) (bytes, files int64, err error) {
	d, err := a.base.Open("/" + StagingDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	defer d.Close()
	infos, err := d.Readdir(-1)
	if err != nil {
		return 0, 0, err
	}
	slot := ""
	if except != "" {
		slot = path.Base(partialName(except))
	}
	for _, fi := range infos {
		if !fi.Mode().IsRegular() || slot != "" && (fi.Name() == slot || strings.HasPrefix(fi.Name(), slot+".")) {
			continue
		}
		bytes += fi.Size()
		files++
	}
	return bytes, files, nil
}

// atomicFile is a staged upload being written.
type atomicFile struct {
	afero.File
	fs       *Atomic
	name     string
	unique   string
	size     int64 // bytes in the staged file
	pos      int64
	written  int64
	replaces bool
	prevSize int64
	started  time.Time
	failed   error // transfer error or write error: do not publish
	done     bool
	dirty    int64 // bytes written since the last startWriteback
	// hash is the SHA-256 of the bytes written so far, kept while the
	// upload started empty, was never cut back and is at most
	// InlineHashMax: Close then need not read the data back.
	hash hash.Hash
}

// writebackChunk is how much of an upload is written before its writeback
// to disk is started.
const writebackChunk = 8 << 20

func (f *atomicFile) Write(p []byte) (int, error) {
	if f.pos != f.size {
		return 0, fmt.Errorf("vfs: write at %d, not at the end (%d) of the upload", f.pos, f.size)
	}
	n, err := f.File.Write(p)
	f.size += int64(n)
	f.pos = f.size
	f.written += int64(n)
	if f.hash != nil {
		if f.size <= InlineHashMax {
			f.hash.Write(p[:n])
		} else {
			f.hash = nil // hashed after publish (Upload.Hash)
		}
	}
	// Start writing a big upload to disk while it arrives, so that the
	// fsync before its publish has little left to wait for: it waited
	// for all of it, about half the time of a 64 MiB upload here.
	if f.dirty += int64(n); f.dirty >= writebackChunk && !f.fs.NoSync {
		startWriteback(f.File, f.size-f.dirty, f.dirty)
		f.dirty = 0
	}
	if err != nil {
		f.failed = err
	}
	return n, err
}

func (f *atomicFile) WriteString(s string) (int, error) { return f.Write([]byte(s)) }

// Seek supports the engine's REST: restarting at the end of the partial
// data, or earlier (the rest is cut off and the hash recomputed).
func (f *atomicFile) Seek(offset int64, whence int) (int64, error) {
	if whence != io.SeekStart {
		f.failed = errors.New("vfs: unsupported seek on an upload")
		return 0, f.failed
	}
	n, err := f.seek(offset)
	if err != nil {
		// An upload that could not start where the client asked is never
		// published: the engine closes it without a transfer.
		f.failed = err
	}
	return n, err
}

func (f *atomicFile) seek(offset int64) (int64, error) {
	switch {
	case offset == f.pos:
		return offset, nil
	case offset < 0, offset > f.size:
		return 0, ErrInvalidOffset
	}
	if err := f.File.Truncate(offset); err != nil {
		return 0, err
	}
	if _, err := f.File.Seek(offset, io.SeekStart); err != nil {
		return 0, err
	}
	f.size, f.pos, f.dirty = offset, offset, 0
	f.hash = nil // what is left is hashed from the file
	return offset, nil
}

func (f *atomicFile) WriteAt([]byte, int64) (int, error) {
	return 0, errors.New("vfs: random writes are not supported on uploads")
}

// TransferError is called by the FTP engine when the transfer broke: the
// data is kept for a resume, never published.
func (f *atomicFile) TransferError(err error) {
	if err == nil {
		err = errors.New("transfer aborted")
	}
	if errors.Is(f.failed, ErrQuotaExceeded) {
		return // the first reason decides whether the data is kept
	}
	f.failed = err
}

func (f *atomicFile) Close() error {
	if f.done {
		return nil
	}
	f.done = true
	var sum []byte
	switch {
	case f.failed != nil || f.size > InlineHashMax:
	case f.hash != nil:
		sum = f.hash.Sum(nil)
	default:
		var err error
		if sum, err = f.sha256(); err != nil {
			f.failed = fmt.Errorf("vfs: hash upload: %w", err)
		}
	}
	if f.failed != nil {
		_ = f.File.Close()
		f.keep()
		return f.failed
	}
	// What the upload replaces is read again now, just before the commit:
	// a delete or another upload of the name may have happened while this
	// one was written, and the quota accounting must see the tree as the
	// rename will find it.
	if fi, err := f.fs.base.Stat(f.name); err == nil && !fi.IsDir() {
		f.replaces, f.prevSize = true, fi.Size()
	} else if err != nil {
		f.replaces, f.prevSize = false, 0
	}
	u := &Upload{Name: f.name, Size: f.size, Written: f.written, PrevSize: f.prevSize, Replaces: f.replaces,
		SHA256: sum, Started: f.started, Staged: f.unique}
	// Nothing is published before its data is on disk: publish syncs it
	// through the upload's handle, in the publishing goroutine after the
	// committer's reservation, not in a goroutine started beside it (on a
	// 4 KiB upload the goroutine's start and wake-up cost more than the
	// overlap saved: a plain client's durable uploads ran 8% faster this
	// way, and faster with a quota too; 2026-12-07). A committer that
	// hashes a big upload before it publishes it (to check its signature
	// or encrypt it) closes the handle: the hash syncs the data first.
	synced := sync.OnceValue(func() error {
		if f.fs.NoSync {
			return nil
		}
		return f.File.Sync()
	})
	// A small upload's handle is closed once its data is synced; a big
	// one keeps it open for Upload.Hash.
	closeSmall := func() error { return nil }
	var hashOnce sync.Once
	release := func() {}
	if sum != nil {
		closeSmall = sync.OnceValue(f.File.Close)
	} else {
		handle := f.File
		var hsum []byte
		var herr error
		hash := func() {
			hsum, herr = f.sha256()
			_ = synced() // publish returns its error
			if err := handle.Close(); err != nil && herr == nil {
				herr = err
			}
		}
		u.Hash = func() ([]byte, error) {
			hashOnce.Do(hash)
			return hsum, herr
		}
		release = func() { hashOnce.Do(func() { herr = handle.Close() }) }
	}
	published := false
	publish := func() error {
		if published {
			return errors.New("vfs: publish called twice")
		}
		if err := synced(); err != nil {
			return err
		}
		if err := closeSmall(); err != nil {
			return err
		}
		// The committer may publish under another name (an upload it
		// encrypted becomes name.pgp).
		if err := f.fs.base.Rename(f.unique, u.Name); err != nil {
			return err
		}
		published = true
		if f.fs.NoSync {
			return nil
		}
		// The rename is durable only once the folder is synced.
		if d, err := f.fs.base.Open(path.Dir(u.Name)); err == nil {
			_ = d.Sync()
			d.Close()
		}
		return nil
	}
	var err error
	if f.fs.commit != nil {
		err = f.fs.commit.CommitUpload(f.fs.ctx, u, publish)
	} else {
		err = publish()
		release() // no committer: no hash wanted
	}
	if published {
		// An interrupted upload of this name left by an earlier transfer
		// is obsolete now, and would hold quota until it is swept.
		_ = f.fs.base.Remove(partialName(f.name))
	}
	if err == nil && !published {
		err = errors.New("vfs: the committer did not publish the upload")
	}
	if err != nil && !published {
		_ = closeSmall()
		release() // nobody will hash it
		f.failed = err
		f.keep()
	}
	return err
}

// sha256 hashes the staged data through f's handle (with pread: the
// handle's offset is not used).
func (f *atomicFile) sha256() ([]byte, error) {
	return SHA256(io.NewSectionReader(f.File, 0, f.size))
}

// SHA256 is the SHA-256 of what r reads: the hash an upload's audit row
// and alert carry.
func SHA256(r io.Reader) ([]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// keep moves the staged data of a failed upload to the name's resume slot.
// An upload refused for quota is dropped instead: resuming it could only
// be refused again, and its data would hold space the quota does not count.
func (f *atomicFile) keep() {
	if f.size == 0 || errors.Is(f.failed, ErrQuotaExceeded) {
		_ = f.fs.base.Remove(f.unique)
		return
	}
	if err := f.fs.base.Rename(f.unique, partialName(f.name)); err != nil {
		_ = f.fs.base.Remove(f.unique)
	}
}

// abandon drops a staged file that never got going.
func (f *atomicFile) abandon() {
	f.done = true
	f.File.Close()
	_ = f.fs.base.Remove(f.unique)
}

// hidingDir lists the root folder without StagingDir.
type hidingDir struct{ afero.File }

func (d *hidingDir) Readdir(n int) ([]os.FileInfo, error) {
	infos, err := d.File.Readdir(n)
	out := infos[:0]
	for _, fi := range infos {
		if fi.Name() != StagingDir {
			out = append(out, fi)
		}
	}
	if n > 0 && len(out) == 0 && len(infos) > 0 && err == nil {
		return d.Readdir(n)
	}
	return out, err
}

func (d *hidingDir) Readdirnames(n int) ([]string, error) {
	names, err := d.File.Readdirnames(n)
	out := names[:0]
	for _, name := range names {
		if name != StagingDir {
			out = append(out, name)
		}
	}
	if n > 0 && len(out) == 0 && len(names) > 0 && err == nil {
		return d.Readdirnames(n)
	}
	return out, err
}
