package vfs

import (
	"io/fs"
	"os"
	"syscall"

	"github.com/spf13/afero"
)

// FileRemover is a file system that deletes a file and says what it was
// in one step: a delete's stat (for the quota's refund, and to refuse a
// folder) and its unlink then share one lookup of the file's folder,
// where a Stat and a Remove each open the folder (os.Root walks the path
// for every call). Every layer of a tree implements it.
type FileRemover interface {
	RemoveFile(name string) (os.FileInfo, error)
}

var (
	_ FileRemover = (*Perms)(nil)
	_ FileRemover = (*Jail)(nil)
	_ FileRemover = (*Quota)(nil)
	_ FileRemover = (*Atomic)(nil)
	_ FileRemover = (*Root)(nil)
)

// RemoveFile removes the file name and returns what it was (nil when that
// could not be told: a name that no Stat finds, or an interrupted upload
// Atomic cannot describe). A folder is not removed: RemoveFile returns its
// FileInfo and an error wrapping syscall.EISDIR. A file system without
// RemoveFile gets a Stat, then a Remove.
func RemoveFile(fsys afero.Fs, name string) (os.FileInfo, error) {
	if r, ok := fsys.(FileRemover); ok {
		return r.RemoveFile(name)
	}
	fi, statErr := fsys.Stat(name)
	return removeStatted(fi, statErr, name, func() error { return fsys.Remove(name) })
}

// removeStatted removes a name whose Stat gave fi, statErr (a folder is
// refused; a failed Stat still removes, as Remove would: a dangling
// symlink, say).
func removeStatted(fi os.FileInfo, statErr error, name string, remove func() error) (os.FileInfo, error) {
	if statErr == nil && fi.IsDir() {
		return fi, &fs.PathError{Op: "remove", Path: name, Err: syscall.EISDIR}
	}
	if err := remove(); err != nil {
		return nil, err
	}
	if statErr != nil {
		return nil, nil
	}
	return fi, nil
}
