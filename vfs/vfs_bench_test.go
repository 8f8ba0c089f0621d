package vfs

// Micro-benchmarks of the vfs layers, each beside a reference measured in
// the same run: the same work done on *os.File with no wrapper. Compare the
// lines of one benchmark; a layer that costs more than it did shows here
// before it shows in cmd/ferrybench.
//
//	go test -run '^$' -bench . ./vfs

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/afero"
)

// session builds the tree a logged-in FTP session sees (ftpd's sessionFS):
// permissions over the home folder over the quota over atomic uploads over
// the partner's Root, with a nil committer and a limiter that reports no
// quota (the ftpd benchmarks include the database).
func benchSession(b *testing.B, dir string) (afero.Fs, *Root) {
	b.Helper()
	r, err := OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	ctx := context.Background()
	var fs afero.Fs = NewAtomic(ctx, r, nil)
	fs = NewQuota(ctx, fs, LimiterFunc(func(context.Context) (Limits, error) { return Limits{}, nil }))
	return NewPerms(NewJail(fs, "/"), allActions), r
}

var benchFileSizes = []struct {
	name string
	size int
}{{"4KiB", 4 << 10}, {"1MiB", 1 << 20}}

// BenchmarkUpload writes one new file per iteration. reference: os.Create,
// Write, Close (a plain FTP server's upload). reference-fsync: the same plus
// Sync, the durability Atomic gives every upload. atomic: Atomic on Root
// (staged file, SHA-256, flock, fsync, rename). atomic-nosync: the same
// without the fsync (FERRY_UPLOAD_SYNC=false), beside reference.
// session: the whole stack.
func BenchmarkUpload(b *testing.B) {
	for _, sz := range benchFileSizes {
		data := make([]byte, sz.size)
		for i := range data {
			data[i] = byte(i)
		}
		b.Run(sz.name+"/reference", func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(int64(sz.size))
			i := 0
			for b.Loop() {
				i++
				f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%d", i)))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.Write(data); err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(sz.name+"/reference-fsync", func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(int64(sz.size))
			i := 0
			for b.Loop() {
				i++
				f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%d", i)))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.Write(data); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
		run := func(name string, mk func(b *testing.B, dir string) afero.Fs) {
			b.Run(sz.name+"/"+name, func(b *testing.B) {
				fs := mk(b, b.TempDir())
				b.SetBytes(int64(sz.size))
				i := 0
				for b.Loop() {
					i++
					f, err := fs.OpenFile(fmt.Sprintf("/f%d", i), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := f.Write(data); err != nil {
						b.Fatal(err)
					}
					if err := f.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		run("atomic", func(b *testing.B, dir string) afero.Fs {
			r, err := OpenRoot(dir)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { r.Close() })
			return NewAtomic(context.Background(), r, nil)
		})
		run("atomic-nosync", func(b *testing.B, dir string) afero.Fs {
			r, err := OpenRoot(dir)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { r.Close() })
			a := NewAtomic(context.Background(), r, nil)
			a.NoSync = true
			return a
		})
		run("session", func(b *testing.B, dir string) afero.Fs {
			fs, _ := benchSession(b, dir)
			return fs
		})
	}
}

// BenchmarkOpenRead opens and reads a 4 KiB file: the per-file cost of a
// small download. reference: os.Open. root: Root alone. session: the stack.
func BenchmarkOpenRead(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), make([]byte, 4<<10), 0o640); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	read := func(b *testing.B, f io.ReadCloser) {
		for {
			_, err := f.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
	}
	b.Run("reference", func(b *testing.B) {
		for b.Loop() {
			f, err := os.Open(filepath.Join(dir, "f"))
			if err != nil {
				b.Fatal(err)
			}
			read(b, f)
		}
	})
	b.Run("root", func(b *testing.B) {
		r, err := OpenRoot(dir)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		for b.Loop() {
			f, err := r.OpenFile("/f", os.O_RDONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			read(b, f)
		}
	})
	b.Run("session", func(b *testing.B) {
		fs, _ := benchSession(b, dir)
		for b.Loop() {
			f, err := fs.OpenFile("/f", os.O_RDONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			read(b, f)
		}
	})
}

// BenchmarkSendfile copies 64 MiB from a file to a loopback TCP connection
// with io.Copy, as the FTP engine does for RETR. reference: *os.File, which
// io.Copy sends with sendfile(2). session: the file the stack opens, which
// must still reach sendfile: if a wrapper hides it, this line drops to the
// speed of a user-space copy.
func BenchmarkSendfile(b *testing.B) {
	const size = 64 << 20
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, size), 0o640); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1<<20)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	send := func(b *testing.B, open func() (io.ReadCloser, error)) {
		b.SetBytes(size)
		for b.Loop() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			f, err := open()
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(c, f); err != nil || n != size {
				b.Fatalf("copied %d: %v", n, err)
			}
			f.Close()
			c.Close()
		}
	}
	b.Run("reference", func(b *testing.B) {
		send(b, func() (io.ReadCloser, error) { return os.Open(filepath.Join(dir, "big")) })
	})
	b.Run("user-space-copy", func(b *testing.B) {
		send(b, func() (io.ReadCloser, error) {
			f, err := os.Open(filepath.Join(dir, "big"))
			return struct {
				io.Reader
				io.Closer
			}{f, f}, err
		})
	})
	b.Run("session", func(b *testing.B) {
		fs, _ := benchSession(b, dir)
		send(b, func() (io.ReadCloser, error) { return fs.OpenFile("/big", os.O_RDONLY, 0) })
	})
}

// BenchmarkReaddir lists a folder of 10,000 files with their details, as
// LIST does. reference: os.ReadDir plus Info of each entry. session: the
// stack's Open and Readdir(-1), what the FTP engine calls.
func BenchmarkReaddir(b *testing.B) {
	const n = 10000
	dir := b.TempDir()
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("report-%06d.csv", i)), []byte("x"), 0o640); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("reference", func(b *testing.B) {
		for b.Loop() {
			ents, err := os.ReadDir(dir)
			if err != nil {
				b.Fatal(err)
			}
			for _, e := range ents {
				if _, err := e.Info(); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("session", func(b *testing.B) {
		fs, _ := benchSession(b, dir)
		for b.Loop() {
			d, err := fs.Open("/")
			if err != nil {
				b.Fatal(err)
			}
			infos, err := d.Readdir(-1)
			d.Close()
			if err != nil || len(infos) != n {
				b.Fatalf("%d entries: %v", len(infos), err)
			}
		}
	})
}

// BenchmarkDelete removes one file of a folder per iteration, as a DELE
// does: reference: os.Remove on the path (what a plain FTP server does).
// stat+remove: the session's Stat then Remove (how the file core deleted,
// for the quota's refund). removefile: the session's RemoveFile (the stat
// and the unlink on one lookup of the folder). The files are made before
// the timer starts.
func BenchmarkDelete(b *testing.B) {
	for _, way := range []string{"reference", "stat+remove", "removefile"} {
		b.Run(way, func(b *testing.B) {
			dir := b.TempDir()
			fs, _ := benchSession(b, dir)
			if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
				b.Fatal(err)
			}
			for i := range b.N {
				if err := os.WriteFile(filepath.Join(dir, "in", fmt.Sprintf("f-%06d", i)), []byte("x"), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				name := fmt.Sprintf("in/f-%06d", i)
				var err error
				switch way {
				case "reference":
					err = os.Remove(filepath.Join(dir, name))
				case "stat+remove":
					if _, err = fs.Stat(name); err == nil {
						err = fs.Remove(name)
					}
				case "removefile":
					_, err = RemoveFile(fs, name)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
