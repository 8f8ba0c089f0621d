package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// backends returns the partner-tree backends every wrapper is tested on:
// afero's in-memory filesystem and the OS through Root.
func backends(t *testing.T) map[string]afero.Fs {
	t.Helper()
	r, err := OpenRoot(filepath.Join(t.TempDir(), "partner"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return map[string]afero.Fs{"mem": afero.NewMemMapFs(), "os": r}
}

func write(t *testing.T, f afero.Fs, name, data string) {
	t.Helper()
	if err := afero.WriteFile(f, name, []byte(data), 0o644); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
}

func TestJailConfinesNames(t *testing.T) {
	for bname, base := range backends(t) {
		t.Run(bname, func(t *testing.T) {
			if err := base.MkdirAll("/home/in", 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, base, "/secret.txt", "outside")
			write(t, base, "/home/in/file.txt", "inside")
			j := NewJail(base, "/home")
			for _, name := range []string{
				"../secret.txt", "/../secret.txt", "in/../../secret.txt", "//..//secret.txt",
				"/in/../../../secret.txt", "./../secret.txt",
			} {
				if _, err := j.Stat(name); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Stat(%q) = %v, want not-exist (the jail has no secret.txt)", name, err)
				}
			}
			data, err := afero.ReadFile(j, "/in/../in/./file.txt")
			if err != nil || string(data) != "inside" {
				t.Fatalf("read inside: %q %v", data, err)
			}
			// Writing through an escaping name lands inside the jail.
			write(t, j, "../../escaped.txt", "x")
			if _, err := base.Stat("/home/escaped.txt"); err != nil {
				t.Fatalf("escaping write did not land in the jail: %v", err)
			}
			if _, err := base.Stat("/escaped.txt"); err == nil {
				t.Fatal("escaping write left the jail")
			}
			if _, err := j.Stat("a\x00b"); !errors.Is(err, ErrBadName) {
				t.Fatalf("NUL name: %v", err)
			}
			if err := j.Remove("/"); !errors.Is(err, fs.ErrPermission) {
				t.Fatalf("remove jail root: %v", err)
			}
			if err := j.Rename("/", "/x"); !errors.Is(err, fs.ErrPermission) {
				t.Fatalf("rename jail root: %v", err)
			}
			// Errors name the client's path, never the backend's.
			_, err = j.Open("/missing.txt")
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Path != "/missing.txt" {
				t.Fatalf("error path: %v", err)
			}
		})
	}
}

func TestRootRefusesSymlinkEscape(t *testing.T) {
	tmp := t.TempDir()
	outside := filepath.Join(tmp, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o644); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(tmp, "tree")
	r, err := OpenRoot(tree)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.Symlink(outside, filepath.Join(tree, "link-out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(tree, "abs-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tree, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(tree, "link-in")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"link-out/secret", "abs-link", "/link-out/../outside/secret"} {
		if f, err := r.Open(name); err == nil {
			f.Close()
			t.Errorf("Open(%q) followed a symlink out of the tree", name)
		}
	}
	if _, err := r.OpenFile("link-out/new", os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		t.Error("created a file through a symlink out of the tree")
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
		t.Error("file appeared outside the tree")
	}
	if err := r.Rename("link-out/secret", "stolen"); err == nil {
		t.Error("renamed a file from outside the tree")
	}
	for _, name := range []string{"link-out/secret", "/link-out/../outside/secret"} {
		if _, err := r.RemoveFile(name); err == nil {
			t.Errorf("RemoveFile(%q) followed a symlink out of the tree", name)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "secret")); err != nil {
		t.Errorf("a file outside the tree went: %v", err)
	}
	if err := afero.WriteFile(r, "link-in/ok.txt", []byte("ok"), 0o644); err != nil {
		t.Errorf("a symlink inside the tree should work: %v", err)
	}
	// Names with .. are cleaned as absolute: they stay in the tree.
	if err := afero.WriteFile(r, "../../x.txt", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tree, "x.txt")); err != nil {
		t.Errorf("../../x.txt did not land in the tree root: %v", err)
	}
	if err := r.Remove("/"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("removing the tree root: %v", err)
	}
	// Root hands out *os.File so io.Copy can use sendfile/splice.
	f, err := r.Open("x.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.(*os.File); !ok {
		t.Errorf("Root.Open returned %T, want *os.File", f)
	}
}

func TestPerms(t *testing.T) {
	type op struct {
		name string
		need Action
		do   func(f afero.Fs) error
	}
	ops := []op{
		{"list folder", ActList, func(f afero.Fs) error { d, err := f.Open("/dir"); closeIf(d); return err }},
		{"download", ActDownload, func(f afero.Fs) error { d, err := f.Open("/dir/a.txt"); closeIf(d); return err }},
		{"upload new", ActUpload, func(f afero.Fs) error {
			d, err := f.OpenFile("/dir/new.txt", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			closeIf(d)
			return err
		}},
		{"overwrite", ActOverwrite, func(f afero.Fs) error {
			d, err := f.OpenFile("/dir/a.txt", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			closeIf(d)
			return err
		}},
		{"append existing", ActOverwrite, func(f afero.Fs) error {
			d, err := f.OpenFile("/dir/a.txt", os.O_WRONLY|os.O_APPEND, 0o644)
			closeIf(d)
			return err
		}},
		{"delete", ActDelete, func(f afero.Fs) error { return f.Remove("/dir/a.txt") }},
		{"rename", ActRename, func(f afero.Fs) error { return f.Rename("/dir/a.txt", "/dir/b.txt") }},
		{"mkdir", ActMkdir, func(f afero.Fs) error { return f.Mkdir("/dir/sub", 0o755) }},
		{"set time", ActOverwrite, func(f afero.Fs) error { return f.Chtimes("/dir/a.txt", time.Now(), time.Now()) }},
	}
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			for bname, base := range backends(t) {
				setup := func() {
					_ = base.RemoveAll("/dir")
					_ = base.MkdirAll("/dir", 0o755)
					write(t, base, "/dir/a.txt", "a")
				}
				setup()
				if err := o.do(NewPerms(base, allActions&^of(o.need))); !errors.Is(err, fs.ErrPermission) {
					t.Errorf("%s without %s: got %v, want permission denied", bname, o.need, err)
				}
				setup()
				if err := o.do(NewPerms(base, of(o.need, ActList))); err != nil {
					t.Errorf("%s with %s: %v", bname, o.need, err)
				}
			}
		})
	}
	for bname, base := range backends(t) {
		write(t, base, "/x", "x")
		p := NewPerms(base, allActions)
		if err := p.Chmod("/x", 0o777); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s chmod allowed", bname)
		}
		if err := p.Chown("/x", 0, 0); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s chown allowed", bname)
		}
		// Renaming over an existing file needs overwrite too.
		write(t, base, "/y", "y")
		if err := NewPerms(base, of(ActRename)).Rename("/x", "/y"); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s rename over existing without overwrite: %v", bname, err)
		}
	}
}

// actions is the test's set of allowed file actions (partners.Perm is the
// production one).
type actions uint16

func (s actions) Allows(a Action) bool { return s&(1<<a) != 0 }

func of(as ...Action) actions {
	var s actions
	for _, a := range as {
		s |= 1 << a
	}
	return s
}

var allActions = of(ActList, ActDownload, ActUpload, ActOverwrite, ActDelete, ActRename, ActMkdir)

func closeIf(f io.Closer) {
	if f != nil {
		f.Close()
	}
}
