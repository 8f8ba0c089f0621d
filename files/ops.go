package files

import (
	"errors"
	"io"
	"io/fs"
	"os"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/vfs"
)

// ErrIsFolder refuses to delete a folder as a file (FTP DELE, the web's
// delete): folders are removed empty, with RemoveDir.
var ErrIsFolder = errors.New("is a folder")

// Remove deletes a file and gives its space back to the quota (an
// interrupted upload of the name goes with it; removing only such an
// upload gives nothing back, it never counted).
func (t *Tree) Remove(name string) error {
	row := t.Record(store.OpDelete, name)
	fi, err := vfs.RemoveFile(t.fs, name) // the stat and the unlink on one lookup of the folder
	if fi != nil && fi.IsDir() {
		err := &fs.PathError{Op: "remove", Path: name, Err: ErrIsFolder}
		t.Audit(row, err)
		return err
	}
	if err == nil && fi != nil && !vfs.IsPartial(fi) {
		row.Bytes, row.UsageBytes, row.UsageFiles = fi.Size(), -fi.Size(), -1
		row.ApplyUsage = true // with the row, in the background: see store.AuditWriter
	}
	t.Audit(row, err)
	return err
}

// RemoveDir removes an empty folder.
func (t *Tree) RemoveDir(name string) error {
	row := t.Record(store.OpRmdir, name)
	err := t.fs.Remove(name)
	t.Audit(row, err)
	return err
}

// Mkdir creates a folder.
func (t *Tree) Mkdir(name string, perm os.FileMode) error {
	row := t.Record(store.OpMkdir, name)
	err := t.fs.Mkdir(name, perm)
	t.Audit(row, err)
	return err
}

// Rename moves a file or folder; a file it replaces gives its space back.
func (t *Tree) Rename(from, to string) error {
	row := t.Record(store.OpRename, from)
	row.TargetPath = t.TreePath(to)
	replaced, statErr := t.fs.Stat(to)
	err := t.fs.Rename(from, to)
	if err == nil && statErr == nil && !replaced.IsDir() && !vfs.IsPartial(replaced) {
		row.UsageBytes, row.UsageFiles = -replaced.Size(), -1
		row.ApplyUsage = true
	}
	t.Audit(row, err)
	return err
}

// Upload stores r as name, published when complete: the same staging,
// quota, publish and rows as an upload a protocol streams itself through
// Fs (Record, OpenFile, Finished). It returns the bytes stored.
func (t *Tree) Upload(name string, r io.Reader) (int64, error) {
	row := t.Record(store.OpUpload, name)
	f, err := t.fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		t.Finished(row, 0, err)
		return 0, err
	}
	n, err := io.Copy(f, r)
	if err != nil {
		if te, ok := f.(interface{ TransferError(error) }); ok {
			te.TransferError(err) // keeps the data staged, publishes nothing
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	t.Finished(row, n, err)
	return n, err
}

// Free is what the partner's byte quota leaves free (interrupted uploads
// kept for a resume count as used, as they do for uploads); limited is
// false when the partner has no byte quota.
func (t *Tree) Free() (free int64, limited bool, err error) {
	if t.svc.Store == nil {
		return 0, false, nil
	}
	if err := t.lim.wait(t.ctx); err != nil {
		return 0, false, err
	}
	p, err := t.svc.Store.PartnerUsage(t.ctx, t.who.PartnerID)
	if err != nil || p.QuotaBytes <= 0 {
		return 0, false, err
	}
	staged, _, err := vfs.NewAtomic(t.ctx, t.root, nil).StagedUsage("")
	if err != nil {
		return 0, true, err
	}
	return max(p.QuotaBytes-p.UsedBytes-staged, 0), true, nil
}

// ErrPartStaged is how an upload part that is not the last one ends: its
// data is staged for the next part, nothing is published.
var ErrPartStaged = errors.New("upload part staged")

// Staged reports the size of the interrupted upload of name waiting for a
// resume (what the next part of a chunked upload starts at); ok is false
// when there is none.
func (t *Tree) Staged(name string) (size int64, ok bool) {
	fi, err := t.fs.Stat(name)
	if err != nil || !vfs.IsPartial(fi) {
		return 0, false
	}
	return fi.Size(), true
}

// UploadPart stores one part of a chunked upload of name (a browser's):
// the bytes of r from offset on. Between parts the data waits staged, as
// an interrupted FTP upload does: never visible, counted against the
// quota, swept when abandoned. The last part publishes the file with the
// same quota check, audit row and upload hook as every upload. offset 0
// starts anew; any other offset must be within the staged data (a part
// sent again after a dropped connection starts where the server's copy
// ends), else the error is vfs.ErrInvalidOffset. It returns the size
// staged (or published). A part that is not the last writes no audit row
// unless it failed.
func (t *Tree) UploadPart(name string, offset int64, r io.Reader, last bool) (int64, error) {
	row := t.Record(store.OpUpload, name)
	flag := os.O_WRONLY | os.O_CREATE
	if offset == 0 {
		flag |= os.O_TRUNC
	} else if size, ok := t.Staged(name); !ok || offset > size {
		return size, vfs.ErrInvalidOffset
	}
	f, err := t.fs.OpenFile(name, flag, 0o640)
	if err != nil {
		t.Finished(row, 0, err)
		return 0, err
	}
	te, _ := f.(interface{ TransferError(error) })
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		_ = f.Close() // the staged data stays for a resume
		size, _ := t.Staged(name)
		return size, vfs.ErrInvalidOffset
	}
	n, err := io.Copy(f, r)
	if (err != nil || !last) && te != nil {
		if err != nil {
			te.TransferError(err)
		} else {
			te.TransferError(ErrPartStaged)
		}
	}
	cerr := f.Close()
	if err == nil && last {
		err = cerr
	}
	size := offset + n
	if err != nil || last {
		t.Finished(row, n, err)
	}
	return size, err
}
