package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/spf13/afero"
)

// Root is an afero.Fs over one folder of the OS filesystem, built on
// os.Root: every name is resolved inside the folder, and a symlink or ".."
// that would lead out of it fails with an error instead of being followed.
// Names are slash-separated and taken relative to the folder whether or not
// they start with "/". Files are *os.File, so io.Copy to a TCP connection
// can still use sendfile and splice. On Linux the names of transfers and
// deletes are resolved by the kernel instead, with the same confinement
// (root_linux.go).
type Root struct {
	root *os.Root
	fast *fastRoot // Linux: names resolved with openat2 (root_linux.go); nil elsewhere

	stagingMu sync.Mutex
	staging   *os.File // StagingDir, opened by the first staged file made, published or removed
}

var _ afero.Fs = (*Root)(nil)

// OpenRoot opens dir, creating it if needed.
func OpenRoot(dir string) (*Root, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("vfs: create %s: %w", dir, err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("vfs: %w", err)
	}
	return &Root{root: r, fast: openFast(r)}, nil
}

// Close releases the folder handle.
func (r *Root) Close() error {
	r.stagingMu.Lock()
	if r.staging != nil {
		r.staging.Close()
		r.staging = nil
	}
	r.stagingMu.Unlock()
	r.fast.close()
	return r.root.Close()
}

// stagingDir is a handle of the staging folder, kept open once it exists.
// The folder is Ferry's own (no client can name, replace or remove it),
// so the handle stays the folder the tree's names lead to.
func (r *Root) stagingDir() (*os.File, error) {
	r.stagingMu.Lock()
	defer r.stagingMu.Unlock()
	if r.staging == nil {
		d, err := r.root.Open(StagingDir)
		if err != nil {
			return nil, err
		}
		r.staging = d
	}
	return r.staging, nil
}

// dropStaging forgets the kept handle d of a staging folder found
// removed. d is not closed here, as another call may be using it: it is
// closed once nothing refers to it.
func (r *Root) dropStaging(d *os.File) {
	r.stagingMu.Lock()
	defer r.stagingMu.Unlock()
	if r.staging == d {
		r.staging = nil
	}
}

// stagingKept reports whether the staging folder's handle is kept open.
func (r *Root) stagingKept() bool {
	r.stagingMu.Lock()
	defer r.stagingMu.Unlock()
	return r.staging != nil
}

// stagedBase is the name in the staging folder of n (clean, relative), if
// n is a file of that folder.
func stagedBase(n string) (string, bool) {
	dir, base := path.Split(n)
	return base, dir == StagingDir+"/"
}

// rel turns any name into a clean name relative to the root.
func rel(name string) string {
	c := path.Clean("/" + name)
	if c == "/" {
		return "."
	}
	return c[1:]
}

// Name implements afero.Fs.
func (r *Root) Name() string { return "vfs.Root(" + r.root.Name() + ")" }

// Create implements afero.Fs.
func (r *Root) Create(name string) (afero.File, error) {
	return r.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// Mkdir implements afero.Fs.
func (r *Root) Mkdir(name string, perm os.FileMode) error { return r.root.Mkdir(rel(name), perm) }

// MkdirAll implements afero.Fs.
func (r *Root) MkdirAll(name string, perm os.FileMode) error {
	n := rel(name)
	if n == "." || n == StagingDir && r.stagingKept() {
		// The staging folder exists while its handle is kept (if it was
		// removed, the next staged file made in it makes it again).
		return nil
	}
	return r.root.MkdirAll(n, perm)
}

// Open implements afero.Fs. Listings open folders this way, as os.Root
// does (a folder's entries are read on its handle); OpenFile, which
// transfers use, has the fast path.
func (r *Root) Open(name string) (afero.File, error) {
	f, err := r.root.Open(rel(name))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// OpenFile implements afero.Fs.
func (r *Root) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	n := rel(name)
	if n != "." {
		if f, ok, err := r.openFile(n, flag, perm); ok {
			if err != nil {
				return nil, err
			}
			return f, nil
		}
	}
	f, err := r.root.OpenFile(n, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Remove implements afero.Fs.
func (r *Root) Remove(name string) error {
	n := rel(name)
	if n == "." {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrPermission}
	}
	if base, ok := stagedBase(n); ok {
		// A staged file: one unlinkat on the folder's kept handle. It is
		// most often absent (every delete and every publish removes the
		// name's interrupted upload).
		err := r.removeStaged(base)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return err
		}
		// Anything else (a folder, say) as os.Root would answer it.
	}
	return r.root.Remove(n)
}

// RemoveFile implements FileRemover: the file's folder is opened once,
// for the stat and the unlink.
func (r *Root) RemoveFile(name string) (os.FileInfo, error) {
	n := rel(name)
	if n == "." {
		return nil, &fs.PathError{Op: "remove", Path: name, Err: fs.ErrPermission}
	}
	if fi, ok, err := r.removeFile(n); ok {
		return fi, err
	}
	dir, base := path.Split(n)
	in := r.root
	if dir != "" {
		sub, err := r.root.OpenRoot(strings.TrimSuffix(dir, "/"))
		if err != nil {
			return nil, &fs.PathError{Op: "remove", Path: n, Err: pathErrCause(err)}
		}
		defer sub.Close()
		in = sub
	}
	fi, statErr := in.Stat(base)
	return removeStatted(fi, statErr, n, func() error {
		if err := in.Remove(base); err != nil {
			return &fs.PathError{Op: "remove", Path: n, Err: pathErrCause(err)}
		}
		return nil
	})
}

// pathErrCause is what a *fs.PathError wraps (err itself otherwise).
func pathErrCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// RemoveAll implements afero.Fs.
func (r *Root) RemoveAll(name string) error {
	n := rel(name)
	if n == "." {
		return &fs.PathError{Op: "removeall", Path: name, Err: fs.ErrPermission}
	}
	return r.root.RemoveAll(n)
}

// Rename implements afero.Fs.
func (r *Root) Rename(oldname, newname string) error {
	o, n := rel(oldname), rel(newname)
	if o == "." || n == "." {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrPermission}
	}
	if base, ok := stagedBase(o); ok {
		// Publishing a staged upload.
		if ok, err := r.renameStaged(base, n); ok {
			return err
		}
	}
	return r.root.Rename(o, n)
}

// Stat implements afero.Fs.
func (r *Root) Stat(name string) (os.FileInfo, error) { return r.root.Stat(rel(name)) }

// Lstat returns information about a name without following a final symlink.
func (r *Root) Lstat(name string) (os.FileInfo, error) { return r.root.Lstat(rel(name)) }

// Chmod implements afero.Fs.
func (r *Root) Chmod(name string, mode os.FileMode) error { return r.root.Chmod(rel(name), mode) }

// Chown implements afero.Fs.
func (r *Root) Chown(name string, uid, gid int) error { return r.root.Chown(rel(name), uid, gid) }

// Chtimes implements afero.Fs.
func (r *Root) Chtimes(name string, atime, mtime time.Time) error {
	return r.root.Chtimes(rel(name), atime, mtime)
}
