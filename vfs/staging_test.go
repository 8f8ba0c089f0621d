package vfs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Interrupted uploads count toward the quota while they are kept; an
// upload refused for quota is not kept (issue 16 item 3).
func TestQuotaCountsStagedUploads(t *testing.T) {
	for bname, base := range backends(t) {
		t.Run(bname, func(t *testing.T) {
			lim := Limits{MaxBytes: 100}
			a := NewAtomic(context.Background(), base, nil)
			q := NewQuota(context.Background(), a, LimiterFunc(func(context.Context) (Limits, error) { return lim, nil }))
			broken := errors.New("connection reset")
			stagedBytes := func() int64 {
				n, _, err := a.StagedUsage("")
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			// Refused for quota: nothing staged.
			if err := upload(t, q, "/big", os.O_TRUNC, 0, strings.Repeat("b", 150), nil); !errors.Is(err, ErrQuotaExceeded) {
				t.Fatalf("upload over quota: %v", err)
			}
			if n := stagedBytes(); n != 0 {
				t.Fatalf("a refused upload left %d bytes staged", n)
			}
			// Broken: kept, and counted against the next upload of another name.
			if err := upload(t, q, "/a", os.O_TRUNC, 0, strings.Repeat("a", 70), broken); !errors.Is(err, broken) {
				t.Fatalf("broken upload: %v", err)
			}
			if n := stagedBytes(); n != 70 {
				t.Fatalf("broken upload: %d bytes staged, want 70", n)
			}
			if err := upload(t, q, "/b", os.O_TRUNC, 0, strings.Repeat("b", 31), nil); !errors.Is(err, ErrQuotaExceeded) {
				t.Fatalf("upload past the quota beside a partial: %v", err)
			}
			if err := upload(t, q, "/b", os.O_TRUNC, 0, strings.Repeat("b", 20), nil); err != nil {
				t.Fatalf("upload that fits beside a partial: %v", err)
			}
			lim.UsedBytes = 20
			// The partial's own name may resume it up to the quota.
			if err := upload(t, q, "/a", 0, 70, strings.Repeat("a", 10), nil); err != nil {
				t.Fatalf("resume: %v", err)
			}
			if n := stagedBytes(); n != 0 {
				t.Fatalf("%d bytes staged after the resume", n)
			}
			// A broken upload that no longer fits when it breaks (another
			// upload was published meanwhile) is dropped.
			lim.UsedBytes = 40
			f, err := q.OpenFile("/c", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte(strings.Repeat("c", 50))); err != nil {
				t.Fatal(err)
			}
			lim.UsedBytes = 90
			f.(interface{ TransferError(error) }).TransferError(broken)
			if err := f.Close(); err == nil {
				t.Fatal("broken upload closed without an error")
			}
			if n := stagedBytes(); n != 0 {
				t.Fatalf("a broken upload past the quota was kept: %d bytes staged", n)
			}
		})
	}
}

// A complete upload of a name drops an older interrupted upload of it.
func TestCompleteUploadDropsOlderPartial(t *testing.T) {
	for bname, base := range backends(t) {
		t.Run(bname, func(t *testing.T) {
			a := NewAtomic(context.Background(), base, nil)
			if err := upload(t, a, "/a", os.O_TRUNC, 0, "partial", errors.New("broken")); err == nil {
				t.Fatal("broken upload succeeded")
			}
			if n, _, _ := a.StagedUsage(""); n != int64(len("partial")) {
				t.Fatalf("%d bytes staged, want the partial", n)
			}
			if err := upload(t, a, "/a", os.O_TRUNC, 0, "complete", nil); err != nil {
				t.Fatal(err)
			}
			if n, files, _ := a.StagedUsage(""); n != 0 || files != 0 {
				t.Fatalf("%d bytes in %d files staged after a complete upload", n, files)
			}
		})
	}
}

// A file quota counts kept partials as files.
func TestQuotaCountsStagedFiles(t *testing.T) {
	for bname, base := range backends(t) {
		t.Run(bname, func(t *testing.T) {
			lim := Limits{MaxFiles: 1}
			a := NewAtomic(context.Background(), base, nil)
			q := NewQuota(context.Background(), a, LimiterFunc(func(context.Context) (Limits, error) { return lim, nil }))
			if err := upload(t, q, "/a", os.O_TRUNC, 0, "aaa", errors.New("broken")); err == nil {
				t.Fatal("broken upload succeeded")
			}
			if err := upload(t, q, "/b", os.O_TRUNC, 0, "b", nil); !errors.Is(err, ErrQuotaExceeded) {
				t.Fatalf("second file beside a partial: %v", err)
			}
			if err := upload(t, q, "/a", 0, 3, "a", nil); err != nil {
				t.Fatalf("resume: %v", err)
			}
		})
	}
}

// A restart outside the staged data publishes nothing (issue 16 item 5).
func TestAtomicBadSeekPublishesNothing(t *testing.T) {
	for bname, base := range backends(t) {
		t.Run(bname, func(t *testing.T) {
			c := &recordingCommitter{}
			a := NewAtomic(context.Background(), base, c)
			for _, off := range []int64{-5, 99} {
				f, err := a.OpenFile("/x", os.O_WRONLY|os.O_CREATE, 0o640)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.Seek(off, 0); !errors.Is(err, ErrInvalidOffset) {
					t.Fatalf("seek %d: %v", off, err)
				}
				if err := f.Close(); err == nil {
					t.Fatalf("seek %d: the upload closed without an error", off)
				}
			}
			if _, err := base.Stat("/x"); !errors.Is(err, fs.ErrNotExist) || len(c.uploads) != 0 {
				t.Fatalf("published after a refused seek: %v %v", err, c.uploads)
			}
		})
	}
}

// ReadDir lists a symlink as its target inside the tree, and leaves out
// links that dangle or lead out.
func TestReadDirSymlinks(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	r, err := OpenRoot(tree)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	write(t, r, "/f", "file")
	if err := r.MkdirAll("/d", 0o750); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"lf": "f", "ld": "d", "out": "/etc/passwd", "up": "..", "gone": "nothing"} {
		if err := os.Symlink(target, filepath.Join(tree, link)); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := ReadDir(NewAtomic(context.Background(), r, nil), "/")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, fi := range infos {
		kind := "file"
		if fi.IsDir() {
			kind = "dir"
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			kind = "link"
		}
		got[fi.Name()] = kind
	}
	want := map[string]string{"f": "file", "d": "dir", "lf": "file", "ld": "dir"}
	if len(got) != len(want) {
		t.Fatalf("listing %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("listing %v, want %v", got, want)
		}
	}
}
