//go:build linux

package vfs

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// On Linux a Root resolves a name with one openat2 call, RESOLVE_BENEATH:
// the kernel walks the whole name and refuses any step (a symlink, "..")
// that would leave the folder, as os.Root refuses it. os.Root walks the
// name itself, opening and closing each folder on the way, and makes each
// file it opens try the poller (three fcntl calls and an epoll_ctl that
// fails for a regular file). An upload's staged file, its publish and a
// delete each took four to eight system calls more than they need
// (strace of one upload, 2026-12-07). Whatever the fast paths do not
// answer themselves (an escape, a symlink, a kernel without openat2, a
// folder opened for reading) goes the os.Root way, so errors and
// behaviour stay os.Root's.

// beneath is how every name is resolved: inside the folder, never through
// /proc's magic links.
const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS

// fastRoot is the folder's handle the fast paths resolve names from.
type fastRoot struct {
	dir *os.File    // the folder, opened through the os.Root
	off atomic.Bool // openat2 is missing (ENOSYS): every call goes the os.Root way
}

func openFast(r *os.Root) *fastRoot {
	d, err := r.Open(".")
	if err != nil {
		return nil // every call goes the os.Root way
	}
	return &fastRoot{dir: d}
}

func (f *fastRoot) close() {
	if f != nil {
		f.dir.Close()
	}
}

func (f *fastRoot) on() bool { return f != nil && !f.off.Load() }

// open resolves n (clean, relative, not ".") beneath the folder. ok is
// false when the os.Root way must answer instead: the name leads out of
// the folder or through a symlink the kernel would not follow, the kernel
// lacks openat2, it kept seeing the tree renamed under the walk, or the
// Root is closed.
func (f *fastRoot) open(n string, flags int, mode uint32) (fd int, ok bool, err error) {
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode), Resolve: beneath}
	fd = -1
	if cerr := at(f.dir, func(dirfd int) {
		for range 3 {
			fd, err = unix.Openat2(dirfd, n, how)
			if err != unix.EINTR && err != unix.EAGAIN { // EAGAIN: a rename raced the walk
				return
			}
		}
	}); cerr != nil {
		return -1, false, nil
	}
	switch {
	case err == nil:
		return fd, true, nil
	case err == unix.ENOSYS:
		f.off.Store(true)
		return -1, false, nil
	case err == unix.EXDEV, err == unix.ELOOP, err == unix.EINTR, err == unix.EAGAIN:
		return -1, false, nil
	}
	return -1, true, &fs.PathError{Op: "openat", Path: n, Err: err}
}

// inFolder runs fn on a handle of dir (n's folder as path.Split gives
// it: "" or ending in "/"), for the *at calls on n's last element. ok is
// as open's; err is dir's failure to resolve, or fn's.
func (f *fastRoot) inFolder(dir string, fn func(fd int) error) (ok bool, err error) {
	if dir == "" {
		if cerr := at(f.dir, func(fd int) { err = fn(fd) }); cerr != nil {
			return false, nil
		}
		return true, err
	}
	fd, ok, err := f.open(strings.TrimSuffix(dir, "/"), unix.O_PATH|unix.O_DIRECTORY, 0)
	if !ok || err != nil {
		return ok, err
	}
	defer unix.Close(fd)
	return true, fn(fd)
}

// openFile is Root.OpenFile's fast path. A name opened only for reading
// may be a folder, whose listing needs os.Root's handle: it is handed to
// the os.Root way.
func (r *Root) openFile(n string, flag int, perm os.FileMode) (*os.File, bool, error) {
	if !r.fast.on() {
		return nil, false, nil
	}
	if base, ok := stagedBase(n); ok {
		return r.openStaged(base, flag, perm)
	}
	mode := uint32(0) // openat2 takes a mode only with O_CREAT
	if flag&os.O_CREATE != 0 {
		mode = uint32(perm.Perm())
	}
	fd, ok, err := r.fast.open(n, flag, mode)
	if !ok || err != nil {
		return nil, ok, err
	}
	if flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			unix.Close(fd)
			return nil, false, nil
		}
	}
	// NewFile leaves a blocking descriptor out of the poller: a regular
	// file never waits there.
	return os.NewFile(uintptr(fd), r.root.Name()+"/"+n), true, nil
}

// openStaged opens base, a name of the staging folder, on the folder's
// kept handle: one openat. A kept handle whose folder was removed (creating
// in it fails) is dropped and the folder made again, the os.Root way.
func (r *Root) openStaged(base string, flag int, perm os.FileMode) (*os.File, bool, error) {
	staging, err := r.stagingDir()
	if err != nil {
		return nil, false, nil
	}
	fd := -1
	if cerr := at(staging, func(dirfd int) {
		fd, err = unix.Openat(dirfd, base, flag|unix.O_CLOEXEC|unix.O_NOFOLLOW, uint32(perm.Perm()))
	}); cerr != nil {
		return nil, false, nil
	}
	switch {
	case err == unix.ENOENT && flag&os.O_CREATE != 0:
		r.dropStaging(staging)
		if err := r.root.MkdirAll(StagingDir, 0o750); err != nil {
			return nil, true, fmt.Errorf("vfs: staging folder: %w", err)
		}
		return nil, false, nil
	case err != nil:
		return nil, true, &fs.PathError{Op: "openat", Path: StagingDir + "/" + base, Err: err}
	}
	return os.NewFile(uintptr(fd), r.root.Name()+"/"+StagingDir+"/"+base), true, nil
}

// renameStaged is Root.Rename's fast path for publishing a staged upload
// (base, a name of the staging folder) as n: one renameat from the
// staging folder's kept handle into n's folder. Like os.Root, it refuses
// to replace a folder (the kernel answers EISDIR).
func (r *Root) renameStaged(base, n string) (bool, error) {
	if !r.fast.on() {
		return false, nil
	}
	staging, err := r.stagingDir()
	if err != nil {
		return false, nil
	}
	dir, name := path.Split(n)
	closed := false
	ok, err := r.fast.inFolder(dir, func(to int) error {
		var err error
		if cerr := at(staging, func(from int) { err = unix.Renameat(from, base, to, name) }); cerr != nil {
			closed = true
		}
		return err
	})
	if !ok || closed {
		return false, nil
	}
	return true, wrapLink(StagingDir+"/"+base, n, err)
}

func wrapLink(oldname, newname string, err error) error {
	if err == nil {
		return nil
	}
	return &os.LinkError{Op: "renameat", Old: oldname, New: newname, Err: pathErrCause(err)}
}

// removeFile is Root.RemoveFile's fast path: the file's folder is
// resolved once for the lstat and the unlink. A symlink is handed to the
// os.Root way, which stats what it leads to.
func (r *Root) removeFile(n string) (os.FileInfo, bool, error) {
	if !r.fast.on() {
		return nil, false, nil
	}
	dir, base := path.Split(n)
	var fi os.FileInfo
	symlink := false
	ok, err := r.fast.inFolder(dir, func(in int) error {
		var st unix.Stat_t
		var statErr error
		switch err := unix.Fstatat(in, base, &st, unix.AT_SYMLINK_NOFOLLOW); {
		case err != nil:
			statErr = err
		case st.Mode&unix.S_IFMT == unix.S_IFLNK:
			symlink = true
			return nil
		default:
			fi = statInfo{name: base, st: st}
		}
		var err error
		fi, err = removeStatted(fi, statErr, n, func() error {
			if err := unix.Unlinkat(in, base, 0); err != nil {
				return &fs.PathError{Op: "remove", Path: n, Err: err}
			}
			return nil
		})
		return err
	})
	switch {
	case !ok || symlink:
		return nil, false, nil
	case err != nil && fi == nil:
		// The folder did not resolve, or the unlink failed.
		return nil, true, &fs.PathError{Op: "remove", Path: n, Err: pathErrCause(err)}
	}
	return fi, true, err
}

// statInfo is an os.FileInfo of an lstat, as os.Lstat gives it.
type statInfo struct {
	name string
	st   unix.Stat_t
}

func (s statInfo) Name() string       { return s.name }
func (s statInfo) Size() int64        { return s.st.Size }
func (s statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }
func (s statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s statInfo) Sys() any           { return &s.st }

func (s statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	if s.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if s.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if s.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
