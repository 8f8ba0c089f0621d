package vfs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"
)

// RemoveFile through a partner's whole stack (Perms, Jail, Quota, Atomic,
// and Root or afero's in-memory file system): a file is removed and
// described, a folder is left and described, a missing name is
// ErrNotExist, and a name that only has an interrupted upload loses it and
// is described as partial.
func TestRemoveFile(t *testing.T) {
	for bname, base := range backends(t) {
		t.Run(bname, func(t *testing.T) {
			ctx := context.Background()
			a := NewAtomic(ctx, base, nil)
			if err := base.MkdirAll("/home/sub/folder", 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, base, "/home/sub/f.txt", "seven b")
			write(t, base, "/home/top.txt", "abc")
			stack := NewPerms(NewJail(NewQuota(ctx, a, nil), "/home"), of(ActDelete, ActList))
			uploads := NewPerms(NewJail(a, "/home"), allActions) // Quota needs a limiter to upload

			for name, size := range map[string]int64{"/sub/f.txt": 7, "top.txt": 3} {
				fi, err := RemoveFile(stack, name)
				if err != nil || fi == nil || fi.Size() != size || IsPartial(fi) {
					t.Fatalf("RemoveFile(%s) = %v, %v; want a file of %d bytes", name, fi, err, size)
				}
				if _, err := stack.Stat(name); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("%s still there: %v", name, err)
				}
			}

			fi, err := RemoveFile(stack, "/sub/folder")
			if !errors.Is(err, syscall.EISDIR) || fi == nil || !fi.IsDir() {
				t.Fatalf("RemoveFile of a folder = %v, %v; want its info and EISDIR", fi, err)
			}
			if _, err := stack.Stat("/sub/folder"); err != nil {
				t.Fatalf("the folder went: %v", err)
			}

			for _, name := range []string{"/missing", "/nowhere/f"} {
				if fi, err := RemoveFile(stack, name); !errors.Is(err, fs.ErrNotExist) || fi != nil {
					t.Fatalf("RemoveFile(%s) = %v, %v; want ErrNotExist", name, fi, err)
				}
			}

			// Only an interrupted upload of the name: it goes, described as
			// partial (no refund).
			if err := upload(t, uploads, "/sub/part.bin", os.O_TRUNC, 0, "partial", errors.New("broken")); err == nil {
				t.Fatal("broken upload succeeded")
			}
			fi, err = RemoveFile(stack, "/sub/part.bin")
			if err != nil || fi == nil || !IsPartial(fi) || fi.Name() != "part.bin" {
				t.Fatalf("RemoveFile of an interrupted upload = %v, %v; want partial info", fi, err)
			}
			if n, files, _ := a.StagedUsage(""); n != 0 || files != 0 {
				t.Fatalf("%d bytes in %d files still staged", n, files)
			}

			// A file and an interrupted upload of its name: both go.
			write(t, base, "/home/sub/both.txt", "12345")
			if err := upload(t, uploads, "/sub/both.txt", 0, 5, "more", errors.New("broken")); err == nil {
				t.Fatal("broken upload succeeded")
			}
			fi, err = RemoveFile(stack, "/sub/both.txt")
			if err != nil || fi == nil || IsPartial(fi) || fi.Size() != 5 {
				t.Fatalf("RemoveFile of a file with an interrupted upload = %v, %v", fi, err)
			}
			if n, files, _ := a.StagedUsage(""); n != 0 || files != 0 {
				t.Fatalf("%d bytes in %d files still staged", n, files)
			}

			// Permission to delete is what RemoveFile asks for.
			ro := NewPerms(NewJail(a, "/home"), of(ActList, ActDownload))
			write(t, base, "/home/keep.txt", "k")
			if _, err := RemoveFile(ro, "/keep.txt"); !errors.Is(err, fs.ErrPermission) {
				t.Fatalf("RemoveFile without the delete permission: %v", err)
			}
			if _, err := RemoveFile(stack, "/"); !errors.Is(err, fs.ErrPermission) {
				t.Fatalf("RemoveFile of the home folder: %v", err)
			}
		})
	}
}
