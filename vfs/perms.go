package vfs

import (
	"io/fs"
	"os"
	"time"

	"github.com/spf13/afero"
)

// Perms refuses the operations an account lacks the permission for, with
// fs.ErrPermission (FTP 550). Changing modes and owners is never allowed:
// partners exchange files, they do not administer the server's disk.
type Perms struct {
	base afero.Fs
	perm Perm
}

var _ afero.Fs = (*Perms)(nil)

// NewPerms wraps base with the permission set p.
func NewPerms(base afero.Fs, p Perm) *Perms { return &Perms{base: base, perm: p} }

// Perm returns the permission set.
func (p *Perms) Perm() Perm { return p.perm }

// DeniedError is a refusal by Perms. It matches fs.ErrPermission.
type DeniedError struct {
	Op, Path string
	Need     Perm // the permission the account lacks; 0 for what no account may do
}

func (e *DeniedError) Error() string { return e.Op + " " + e.Path + ": " + e.Reason() }

// Is makes errors.Is(err, fs.ErrPermission) true.
func (e *DeniedError) Is(target error) bool { return target == fs.ErrPermission }

// Reason says what the account may not do, in words a partner understands.
func (e *DeniedError) Reason() string {
	switch e.Need {
	case PermList:
		return "this account may not list folders"
	case PermDownload:
		return "this account may not download"
	case PermUpload:
		return "this account may not upload"
	case PermOverwrite:
		return "this account may not replace or change existing files"
	case PermDelete:
		return "this account may not delete"
	case PermRename:
		return "this account may not rename"
	case PermMkdir:
		return "this account may not create folders"
	case 0:
		return "not allowed on this server"
	}
	return "this account lacks the " + e.Need.String() + " permission"
}

func deny(op, name string, need Perm) error {
	return &DeniedError{Op: op, Path: name, Need: need}
}

// exists reports a finished file: resuming one's own interrupted upload is
// uploading, not overwriting.
func (p *Perms) exists(name string) bool {
	fi, err := p.base.Stat(name)
	return err == nil && !IsPartial(fi)
}

// Name implements afero.Fs.
func (p *Perms) Name() string { return "vfs.Perms(" + p.perm.String() + ")" }

// Create implements afero.Fs.
func (p *Perms) Create(name string) (afero.File, error) {
	return p.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// Mkdir implements afero.Fs.
func (p *Perms) Mkdir(name string, perm os.FileMode) error {
	if !p.perm.Has(PermMkdir) {
		return deny("mkdir", name, PermMkdir)
	}
	return p.base.Mkdir(name, perm)
}

// MkdirAll implements afero.Fs.
func (p *Perms) MkdirAll(name string, perm os.FileMode) error {
	if !p.perm.Has(PermMkdir) {
		return deny("mkdir", name, PermMkdir)
	}
	return p.base.MkdirAll(name, perm)
}

// Open implements afero.Fs: folders need list, files need download.
func (p *Perms) Open(name string) (afero.File, error) {
	fi, err := p.base.Stat(name)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() && !p.perm.Has(PermList) {
		return nil, deny("open", name, PermList)
	}
	if !fi.IsDir() && !p.perm.Has(PermDownload) {
		return nil, deny("open", name, PermDownload)
	}
	return p.base.Open(name)
}

// OpenFile implements afero.Fs: writing needs upload for a new file and
// overwrite for an existing one.
func (p *Perms) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC) == 0 {
		return p.Open(name)
	}
	need := PermUpload
	if p.exists(name) {
		need = PermOverwrite
	}
	if !p.perm.Has(need) {
		return nil, deny("open", name, need)
	}
	return p.base.OpenFile(name, flag, perm)
}

// Remove implements afero.Fs.
func (p *Perms) Remove(name string) error {
	if !p.perm.Has(PermDelete) {
		return deny("remove", name, PermDelete)
	}
	return p.base.Remove(name)
}

// RemoveAll implements afero.Fs.
func (p *Perms) RemoveAll(name string) error {
	if !p.perm.Has(PermDelete) {
		return deny("remove", name, PermDelete)
	}
	return p.base.RemoveAll(name)
}

// Rename implements afero.Fs; replacing an existing target also needs overwrite.
func (p *Perms) Rename(oldname, newname string) error {
	if !p.perm.Has(PermRename) {
		return deny("rename", oldname, PermRename)
	}
	if p.exists(newname) && !p.perm.Has(PermOverwrite) {
		return deny("rename", newname, PermOverwrite)
	}
	return p.base.Rename(oldname, newname)
}

// Stat implements afero.Fs.
func (p *Perms) Stat(name string) (os.FileInfo, error) {
	if !p.perm.Has(PermList) && !p.perm.Has(PermDownload) && !p.perm.Has(PermUpload) {
		return nil, deny("stat", name, PermList)
	}
	return p.base.Stat(name)
}

// Chmod implements afero.Fs; it is always refused.
func (p *Perms) Chmod(name string, _ os.FileMode) error { return deny("chmod", name, 0) }

// Chown implements afero.Fs; it is always refused.
func (p *Perms) Chown(name string, _, _ int) error { return deny("chown", name, 0) }

// Chtimes implements afero.Fs (MFMT): it changes a file, so it needs overwrite.
func (p *Perms) Chtimes(name string, atime, mtime time.Time) error {
	if !p.perm.Has(PermOverwrite) {
		return deny("chtimes", name, PermOverwrite)
	}
	return p.base.Chtimes(name, atime, mtime)
}
