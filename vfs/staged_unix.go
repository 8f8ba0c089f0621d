//go:build unix

package vfs

import (
	"io/fs"

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
	if err := unix.Unlinkat(int(d.Fd()), base, 0); err != nil {
		return &fs.PathError{Op: "remove", Path: StagingDir + "/" + base, Err: err}
	}
	return nil
}
