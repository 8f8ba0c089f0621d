package vfs

import (
	"io/fs"
	"os"
	"time"

	"github.com/spf13/afero"
)

// Action is a kind of change or access to a tree that may be refused.
type Action uint8

// The actions, one per file permission of an account.
const (
	ActList      Action = iota // see folder contents and file details
	ActDownload                // read files
	ActUpload                  // create new files
	ActOverwrite               // replace, append to or resume existing files, set their times
	ActDelete                  // delete files and empty folders
	ActRename                  // rename and move
	ActMkdir                   // create folders
	actNone                    // what no account may do (modes, owners)
)

var actionNames = [...]string{"list", "download", "upload", "overwrite", "delete", "rename", "mkdir", "none"}

// String is the action's permission name.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// Allowed says which actions an account may take (partners.Perm is the
// account's set; an administrator may take them all).
type Allowed interface {
	Allows(Action) bool
}

// Perms refuses the operations an account lacks the permission for, with
// fs.ErrPermission (FTP 550). Changing modes and owners is never allowed:
// partners exchange files, they do not administer the server's disk.
type Perms struct {
	base  afero.Fs
	allow Allowed
}

var _ afero.Fs = (*Perms)(nil)

// NewPerms wraps base with what allow permits.
func NewPerms(base afero.Fs, allow Allowed) *Perms { return &Perms{base: base, allow: allow} }

func (p *Perms) has(a Action) bool { return p.allow.Allows(a) }

// DeniedError is a refusal by Perms. It matches fs.ErrPermission.
type DeniedError struct {
	Op, Path string
	Need     Action // the action the account may not take; what no account may do has its own
}

func (e *DeniedError) Error() string { return e.Op + " " + e.Path + ": " + e.Reason() }

// Is makes errors.Is(err, fs.ErrPermission) true.
func (e *DeniedError) Is(target error) bool { return target == fs.ErrPermission }

// Reason says what the account may not do, in words a partner understands.
func (e *DeniedError) Reason() string {
	switch e.Need {
	case ActList:
		return "this account may not list folders"
	case ActDownload:
		return "this account may not download"
	case ActUpload:
		return "this account may not upload"
	case ActOverwrite:
		return "this account may not replace or change existing files"
	case ActDelete:
		return "this account may not delete"
	case ActRename:
		return "this account may not rename"
	case ActMkdir:
		return "this account may not create folders"
	case actNone:
		return "not allowed on this server"
	}
	return "this account lacks the " + e.Need.String() + " permission"
}

func deny(op, name string, need Action) error {
	return &DeniedError{Op: op, Path: name, Need: need}
}

// exists reports a finished file: resuming one's own interrupted upload is
// uploading, not overwriting.
func (p *Perms) exists(name string) bool {
	fi, err := p.base.Stat(name)
	return err == nil && !IsPartial(fi)
}

// Name implements afero.Fs.
func (p *Perms) Name() string { return "vfs.Perms(" + p.base.Name() + ")" }

// Create implements afero.Fs.
func (p *Perms) Create(name string) (afero.File, error) {
	return p.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// Mkdir implements afero.Fs.
func (p *Perms) Mkdir(name string, perm os.FileMode) error {
	if !p.has(ActMkdir) {
		return deny("mkdir", name, ActMkdir)
	}
	return p.base.Mkdir(name, perm)
}

// MkdirAll implements afero.Fs.
func (p *Perms) MkdirAll(name string, perm os.FileMode) error {
	if !p.has(ActMkdir) {
		return deny("mkdir", name, ActMkdir)
	}
	return p.base.MkdirAll(name, perm)
}

// Open implements afero.Fs: folders need list, files need download.
func (p *Perms) Open(name string) (afero.File, error) {
	fi, err := p.base.Stat(name)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() && !p.has(ActList) {
		return nil, deny("open", name, ActList)
	}
	if !fi.IsDir() && !p.has(ActDownload) {
		return nil, deny("open", name, ActDownload)
	}
	return p.base.Open(name)
}

// OpenFile implements afero.Fs: writing needs upload for a new file and
// overwrite for an existing one.
func (p *Perms) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC) == 0 {
		return p.Open(name)
	}
	// Whether the name exists decides only for an account that may do
	// one of the two: most have both, and save a stat on every upload.
	if !p.has(ActUpload) || !p.has(ActOverwrite) {
		need := ActUpload
		if p.exists(name) {
			need = ActOverwrite
		}
		if !p.has(need) {
			return nil, deny("open", name, need)
		}
	}
	return p.base.OpenFile(name, flag, perm)
}

// Remove implements afero.Fs.
func (p *Perms) Remove(name string) error {
	if !p.has(ActDelete) {
		return deny("remove", name, ActDelete)
	}
	return p.base.Remove(name)
}

// RemoveFile implements FileRemover.
func (p *Perms) RemoveFile(name string) (os.FileInfo, error) {
	if !p.has(ActDelete) {
		return nil, deny("remove", name, ActDelete)
	}
	return RemoveFile(p.base, name)
}

// RemoveAll implements afero.Fs.
func (p *Perms) RemoveAll(name string) error {
	if !p.has(ActDelete) {
		return deny("remove", name, ActDelete)
	}
	return p.base.RemoveAll(name)
}

// Rename implements afero.Fs; replacing an existing target also needs overwrite.
func (p *Perms) Rename(oldname, newname string) error {
	if !p.has(ActRename) {
		return deny("rename", oldname, ActRename)
	}
	if !p.has(ActOverwrite) && p.exists(newname) {
		return deny("rename", newname, ActOverwrite)
	}
	return p.base.Rename(oldname, newname)
}

// Stat implements afero.Fs.
func (p *Perms) Stat(name string) (os.FileInfo, error) {
	if !p.has(ActList) && !p.has(ActDownload) && !p.has(ActUpload) {
		return nil, deny("stat", name, ActList)
	}
	return p.base.Stat(name)
}

// Chmod implements afero.Fs; it is always refused.
func (p *Perms) Chmod(name string, _ os.FileMode) error { return deny("chmod", name, actNone) }

// Chown implements afero.Fs; it is always refused.
func (p *Perms) Chown(name string, _, _ int) error { return deny("chown", name, actNone) }

// Chtimes implements afero.Fs (MFMT): it changes a file, so it needs overwrite.
func (p *Perms) Chtimes(name string, atime, mtime time.Time) error {
	if !p.has(ActOverwrite) {
		return deny("chtimes", name, ActOverwrite)
	}
	return p.base.Chtimes(name, atime, mtime)
}
