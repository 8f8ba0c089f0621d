package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// A Root's transfers and deletes (on Linux resolved with openat2, the
// staged files on the staging folder's kept handle) behave as os.Root's:
// files open for writing and reading, a folder opened for reading still
// lists, errors are the same kind, and a staged upload publishes into a
// subfolder, over an older file, but never over a folder or through a
// symlink out of the tree.
func TestRootTransfers(t *testing.T) {
	tmp := t.TempDir()
	outside := filepath.Join(tmp, "outside")
	tree := filepath.Join(tmp, "tree")
	for _, d := range []string{outside, filepath.Join(tree, "in", "deep"), filepath.Join(tree, "dir")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(tree, "link-out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("in", filepath.Join(tree, "link-in")); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRoot(tree)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	write(t, r, "/in/deep/a.txt", "alpha")
	if got := read(t, r, "in/deep/a.txt"); got != "alpha" {
		t.Fatalf("read back %q", got)
	}
	if got := read(t, r, "/link-in/deep/a.txt"); got != "alpha" {
		t.Fatalf("through a symlink inside the tree: %q", got)
	}
	if _, err := r.OpenFile("/in/none/x", os.O_CREATE|os.O_WRONLY, 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("create in a missing folder: %v", err)
	}
	if _, err := r.OpenFile("/in/deep/a.txt/x", os.O_RDONLY, 0); !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("a file as a folder: %v", err)
	}
	if _, err := r.OpenFile("/dir", os.O_WRONLY, 0); !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("a folder opened for writing: %v", err)
	}
	if _, err := r.OpenFile("/in/deep/a.txt", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("O_EXCL over a file: %v", err)
	}
	// A folder opened for reading lists.
	d, err := r.OpenFile("/in", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := d.Readdir(-1)
	d.Close()
	if err != nil || len(infos) != 1 || infos[0].Name() != "deep" || !infos[0].IsDir() {
		t.Fatalf("listing of a folder opened with OpenFile: %v, %v", infos, err)
	}
	// The file's mode is the one asked for, less the umask, as os.Root
	// makes it.
	f, err := r.OpenFile("/in/mode.txt", os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, err := os.Stat(filepath.Join(tree, "in", "mode.txt")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}

	// Publishing staged files: into a subfolder, over an older file.
	if err := r.MkdirAll("/"+StagingDir, 0o750); err != nil {
		t.Fatal(err)
	}
	stage := func(name, content string) string {
		t.Helper()
		staged := "/" + StagingDir + "/" + name
		write(t, r, staged, content)
		return staged
	}
	if err := r.Rename(stage("s1", "new"), "/in/deep/a.txt"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, r, "/in/deep/a.txt"); got != "new" {
		t.Fatalf("published over the older file: %q", got)
	}
	if err := r.Rename(stage("s2", "top"), "/top.txt"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, r, "top.txt"); got != "top" {
		t.Fatalf("published into the root: %q", got)
	}
	s3 := stage("s3", "x")
	if err := r.Rename(s3, "/dir"); err == nil {
		t.Fatal("a staged file replaced a folder")
	}
	if err := r.Rename(s3, "/link-out/stolen"); err == nil {
		t.Fatal("a staged file was published through a symlink out of the tree")
	}
	if err := r.Rename(s3, "/in/none/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("publish into a missing folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "stolen")); err == nil {
		t.Fatal("a file appeared outside the tree")
	}

	// The staging folder removed under a kept handle is made again by the
	// next staged file.
	if err := os.RemoveAll(filepath.Join(tree, StagingDir)); err != nil {
		t.Fatal(err)
	}
	if err := r.MkdirAll("/"+StagingDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := r.Rename(stage("s4", "again"), "/in/again.txt"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, r, "/in/again.txt"); got != "again" {
		t.Fatalf("published after the staging folder came back: %q", got)
	}
	if err := r.Remove("/" + StagingDir + "/s4"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the published file is still staged: %v", err)
	}
}

// RemoveFile describes what it removed as os.Lstat would, and a symlink
// inside the tree is removed itself, not what it leads to.
func TestRootRemoveFileInfo(t *testing.T) {
	tree := t.TempDir()
	r, err := OpenRoot(tree)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.MkdirAll(filepath.Join(tree, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, r, "/in/f.bin", "0123456789")
	if err := os.Chmod(filepath.Join(tree, "in", "f.bin"), 0o640); err != nil {
		t.Fatal(err)
	}
	want, err := os.Lstat(filepath.Join(tree, "in", "f.bin"))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := r.RemoveFile("/in/f.bin")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Name() != want.Name() || fi.Size() != want.Size() || fi.Mode() != want.Mode() ||
		!fi.ModTime().Equal(want.ModTime()) || fi.IsDir() {
		t.Fatalf("RemoveFile described %s %d %v %v, os.Lstat %s %d %v %v", fi.Name(), fi.Size(), fi.Mode(), fi.ModTime(),
			want.Name(), want.Size(), want.Mode(), want.ModTime())
	}
	write(t, r, "/in/target.txt", "keep")
	if err := os.Symlink("target.txt", filepath.Join(tree, "in", "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RemoveFile("/in/link"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(tree, "in", "link")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the symlink is still there: %v", err)
	}
	if got := read(t, r, "/in/target.txt"); got != "keep" {
		t.Fatalf("the symlink's target went: %q", got)
	}
	if _, err := r.RemoveFile("/none/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("RemoveFile in a missing folder: %v", err)
	}
}

func read(t *testing.T, f afero.Fs, name string) string {
	t.Helper()
	b, err := afero.ReadFile(f, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// A Root closed while transfers use it (a session ending as its uploads
// finish) fails those calls cleanly: nothing is published anywhere else.
func TestRootCloseDuringTransfers(t *testing.T) {
	tree := t.TempDir()
	r, err := OpenRoot(tree)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.MkdirAll("/"+StagingDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tree, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var published atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				staged := fmt.Sprintf("/%s/w%d-%d", StagingDir, w, i)
				f, err := r.OpenFile(staged, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
				if err != nil {
					continue
				}
				f.Write([]byte("x"))
				f.Close()
				if r.Rename(staged, fmt.Sprintf("/in/w%d-%d", w, i)) == nil {
					published.Add(1)
				}
				r.RemoveFile(fmt.Sprintf("/in/w%d-%d", w, i-1))
			}
		}()
	}
	for published.Load() < 20 {
		time.Sleep(time.Millisecond)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // calls on the closed Root
	close(done)
	wg.Wait()
	entries, err := os.ReadDir(tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "in" && e.Name() != StagingDir {
			t.Errorf("%s appeared in the tree's root", e.Name())
		}
	}
	if _, err := r.OpenFile("/in/late", os.O_RDWR|os.O_CREATE, 0o640); err == nil {
		t.Error("a closed Root created a file")
	}
}
