//go:build unix

package vfs

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// removeStaged removes the file base (one name) of the staging folder
// with one unlinkat on the folder's kept handle, where os.Root opens the
// folder, tries unlink, then rmdir, and closes it: four system calls.
func (r *Root) removeStaged(base string) error {
	d, err := r.stagingDir()
	if err != nil {
		return err
	}
	if cerr := at(d, func(fd int) { err = unix.Unlinkat(fd, base, 0) }); cerr != nil {
		return cerr
	}
	if err != nil {
		return &fs.PathError{Op: "remove", Path: StagingDir + "/" + base, Err: err}
	}
	return nil
}

// at runs fn on d's descriptor, which stays open until fn returns: a
// Close meanwhile (the session ending while a transfer finishes) waits
// for it, so the number is never another file's. A closed d is an error.
func at(d *os.File, fn func(fd int)) error {
	rc, err := d.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { fn(int(fd)) })
}
