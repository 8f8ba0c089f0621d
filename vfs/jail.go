package vfs

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/spf13/afero"
)

// Jail confines every name to dir inside base. Names are cleaned as absolute
// paths first, so "..", "//" and "/./" can never climb above dir, whatever
// the backend. Errors carry the name as the client gave it, never the path
// in the backend.
type Jail struct {
	base afero.Fs
	dir  string // clean, absolute, "/" for the whole base
}

var _ afero.Fs = (*Jail)(nil)

// NewJail returns base confined to dir ("/" or "" for all of base).
func NewJail(base afero.Fs, dir string) *Jail {
	return &Jail{base: base, dir: path.Clean("/" + dir)}
}

// ErrBadName is returned for names no file may have (NUL bytes).
var ErrBadName = errors.New("invalid file name")

func (j *Jail) real(op, name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", &fs.PathError{Op: op, Path: name, Err: ErrBadName}
	}
	return path.Join(j.dir, path.Clean("/"+name)), nil
}

// virtual maps an error's backend path back to the client's name.
func virtual(err error, name string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: path.Clean("/" + name), Err: pe.Err}
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return &fs.PathError{Op: le.Op, Path: path.Clean("/" + name), Err: le.Err}
	}
	return err
}

// Name implements afero.Fs.
func (j *Jail) Name() string { return "vfs.Jail(" + j.dir + ")" }

// Create implements afero.Fs.
func (j *Jail) Create(name string) (afero.File, error) {
	r, err := j.real("create", name)
	if err != nil {
		return nil, err
	}
	f, err := j.base.Create(r)
	return f, virtual(err, name)
}

// Mkdir implements afero.Fs.
func (j *Jail) Mkdir(name string, perm os.FileMode) error {
	r, err := j.real("mkdir", name)
	if err != nil {
		return err
	}
	return virtual(j.base.Mkdir(r, perm), name)
}

// MkdirAll implements afero.Fs.
func (j *Jail) MkdirAll(name string, perm os.FileMode) error {
	r, err := j.real("mkdir", name)
	if err != nil {
		return err
	}
	return virtual(j.base.MkdirAll(r, perm), name)
}

// Open implements afero.Fs.
func (j *Jail) Open(name string) (afero.File, error) {
	r, err := j.real("open", name)
	if err != nil {
		return nil, err
	}
	f, err := j.base.Open(r)
	if err != nil {
		return nil, virtual(err, name)
	}
	return f, nil
}

// OpenFile implements afero.Fs.
func (j *Jail) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	r, err := j.real("open", name)
	if err != nil {
		return nil, err
	}
	f, err := j.base.OpenFile(r, flag, perm)
	if err != nil {
		return nil, virtual(err, name)
	}
	return f, nil
}

// Remove implements afero.Fs.
func (j *Jail) Remove(name string) error {
	r, err := j.real("remove", name)
	if err != nil {
		return err
	}
	if r == j.dir {
		return &fs.PathError{Op: "remove", Path: "/", Err: fs.ErrPermission}
	}
	return virtual(j.base.Remove(r), name)
}

// RemoveFile implements FileRemover.
func (j *Jail) RemoveFile(name string) (os.FileInfo, error) {
	r, err := j.real("remove", name)
	if err != nil {
		return nil, err
	}
	if r == j.dir {
		return nil, &fs.PathError{Op: "remove", Path: "/", Err: fs.ErrPermission}
	}
	fi, err := RemoveFile(j.base, r)
	return fi, virtual(err, name)
}

// RemoveAll implements afero.Fs.
func (j *Jail) RemoveAll(name string) error {
	r, err := j.real("remove", name)
	if err != nil {
		return err
	}
	if r == j.dir {
		return &fs.PathError{Op: "remove", Path: "/", Err: fs.ErrPermission}
	}
	return virtual(j.base.RemoveAll(r), name)
}

// Rename implements afero.Fs.
func (j *Jail) Rename(oldname, newname string) error {
	o, err := j.real("rename", oldname)
	if err != nil {
		return err
	}
	n, err := j.real("rename", newname)
	if err != nil {
		return err
	}
	if o == j.dir || n == j.dir {
		return &fs.PathError{Op: "rename", Path: "/", Err: fs.ErrPermission}
	}
	return virtual(j.base.Rename(o, n), oldname)
}

// Stat implements afero.Fs.
func (j *Jail) Stat(name string) (os.FileInfo, error) {
	r, err := j.real("stat", name)
	if err != nil {
		return nil, err
	}
	fi, err := j.base.Stat(r)
	return fi, virtual(err, name)
}

// Chmod implements afero.Fs.
func (j *Jail) Chmod(name string, mode os.FileMode) error {
	r, err := j.real("chmod", name)
	if err != nil {
		return err
	}
	return virtual(j.base.Chmod(r, mode), name)
}

// Chown implements afero.Fs.
func (j *Jail) Chown(name string, uid, gid int) error {
	r, err := j.real("chown", name)
	if err != nil {
		return err
	}
	return virtual(j.base.Chown(r, uid, gid), name)
}

// Chtimes implements afero.Fs.
func (j *Jail) Chtimes(name string, atime, mtime time.Time) error {
	r, err := j.real("chtimes", name)
	if err != nil {
		return err
	}
	return virtual(j.base.Chtimes(r, atime, mtime), name)
}
