package vfs

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/afero"
)

type recordingCommitter struct {
	uploads []Upload
	refuse  error
}

func (c *recordingCommitter) CommitUpload(_ context.Context, u *Upload, publish func() error) error {
	if c.refuse != nil {
		return c.refuse
	}
	if err := publish(); err != nil {
		return err
	}
	if u.Hash != nil {
		sum, err := u.Hash()
		if err != nil {
			return err
		}
		u.SHA256 = sum
	}
	c.uploads = append(c.uploads, *u)
	return nil
}

// lateCommitter publishes and keeps the upload, to hash it later.
type lateCommitter struct{ uploads []*Upload }

func (c *lateCommitter) CommitUpload(_ context.Context, u *Upload, publish func() error) error {
	if err := publish(); err != nil {
		return err
	}
	c.uploads = append(c.uploads, u)
	return nil
}

// hashFirstCommitter hashes a late-hashed upload before it publishes it, as
// the file core does to check a signature or encrypt the upload.
type hashFirstCommitter struct{ sums [][]byte }

func (c *hashFirstCommitter) CommitUpload(_ context.Context, u *Upload, publish func() error) error {
	sum := u.SHA256
	if u.Hash != nil {
		var err error
		if sum, err = u.Hash(); err != nil {
			return err
		}
	}
	if err := publish(); err != nil {
		return err
	}
	c.sums = append(c.sums, sum)
	return nil
}

// A committer may hash a big upload before it publishes it (which closes
// the upload's handle); the data is synced all the same, once, and
// published, durably or not.
func TestAtomicHashBeforePublish(t *testing.T) {
	for bname, base := range backends(t) {
		for _, noSync := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/no-sync=%v", bname, noSync), func(t *testing.T) {
				c := &hashFirstCommitter{}
				a := NewAtomic(context.Background(), base, c)
				a.NoSync = noSync
				data := strings.Repeat("0123456789abcdef", (InlineHashMax+100_000)/16)
				for _, name := range []string{"/big.bin", "/small.txt"} {
					body := data
					if name == "/small.txt" {
						body = "small"
					}
					if err := upload(t, a, name, os.O_TRUNC, 0, body, nil); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					got, err := afero.ReadFile(base, name)
					if err != nil || string(got) != body {
						t.Fatalf("%s published: %d bytes, %v", name, len(got), err)
					}
				}
				want := sha256.Sum256([]byte(data))
				if len(c.sums) != 2 || string(c.sums[0]) != string(want[:]) {
					t.Fatalf("hashes %x, want %x first", c.sums, want)
				}
			})
		}
	}
}

// An upload over InlineHashMax is hashed after publish, through a handle of
// its own: what happens to the name meanwhile (another upload replaces it,
// a delete) does not change the hash, which covers the whole file, resumed
// part included. A small upload is hashed before publish.
func TestAtomicLateHash(t *testing.T) {
	for bname, base := range backends(t) {
		t.Run(bname, func(t *testing.T) {
			c := &lateCommitter{}
			a := NewAtomic(context.Background(), base, c)
			data := strings.Repeat("0123456789abcdef", (InlineHashMax+100_000)/16)
			if err := upload(t, a, "/big.bin", os.O_TRUNC, 0, data[:300_000], errors.New("connection reset")); err == nil {
				t.Fatal("interrupted upload closed without error")
			}
			if err := upload(t, a, "/big.bin", 0, 300_000, data[300_000:], nil); err != nil {
				t.Fatalf("resume: %v", err)
			}
			if len(c.uploads) != 1 || c.uploads[0].SHA256 != nil || c.uploads[0].Hash == nil {
				t.Fatalf("a big upload was hashed before publish: %+v", c.uploads)
			}
			// The name changes before the hash is taken.
			if err := upload(t, a, "/big.bin", os.O_TRUNC, 0, "replaced", nil); err != nil {
				t.Fatal(err)
			}
			small := c.uploads[1]
			if want := sha256.Sum256([]byte("replaced")); small.Hash != nil || string(small.SHA256) != string(want[:]) {
				t.Fatalf("small upload: hash %x, late %v", small.SHA256, small.Hash != nil)
			}
			if err := a.Remove("/big.bin"); err != nil {
				t.Fatal(err)
			}
			want := sha256.Sum256([]byte(data))
			for range 2 { // a second call returns the same
				got, err := c.uploads[0].Hash()
				if err != nil || string(got) != string(want[:]) {
					t.Fatalf("late hash %x (%v), want %x", got, err, want)
				}
			}
		})
	}
}

func upload(t *testing.T, f afero.Fs, name string, flag int, offset int64, data string, fail error) error {
	t.Helper()
	file, err := f.OpenFile(name, os.O_WRONLY|os.O_CREATE|flag, 0o640)
	if err != nil {
		return err
	}
	if offset > 0 {
		if _, err := file.Seek(offset, io.SeekStart); err != nil {
			file.Close()
			return err
		}
	}
	if _, err := io.Copy(file, strings.NewReader(data)); err != nil {
		file.Close()
		return err
	}
	if fail != nil {
		file.(interface{ TransferError(error) }).TransferError(fail)
	}
	return file.Close()
}

func TestAtomicUploads(t *testing.T) {
	for bname, base := range backends(t) {
		t.Run(bname, func(t *testing.T) {
			c := &recordingCommitter{}
			a := NewAtomic(context.Background(), base, c)
			if err := a.MkdirAll("/in", 0o755); err != nil {
				t.Fatal(err)
			}
			// While written, the file is invisible.
			f, err := a.OpenFile("/in/a.txt", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("hello ")); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Stat("/in/a.txt"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("file visible while written: %v", err)
			}
			names := list(t, a, "/")
			if strings.Contains(strings.Join(names, ","), StagingDir) {
				t.Fatalf("staging folder listed: %v", names)
			}
			f.Write([]byte("world"))
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if got, _ := afero.ReadFile(a, "/in/a.txt"); string(got) != "hello world" {
				t.Fatalf("published %q", got)
			}
			sum := sha256.Sum256([]byte("hello world"))
			if len(c.uploads) != 1 || string(c.uploads[0].SHA256) != string(sum[:]) || c.uploads[0].Size != 11 ||
				c.uploads[0].Replaces || c.uploads[0].Written != 11 {
				t.Fatalf("commit %+v", c.uploads)
			}

			// An interrupted upload is not published; Stat shows how much
			// arrived; REST+STOR resumes it.
			data := "0123456789abcdefghij"
			if err := upload(t, a, "/in/b.bin", os.O_TRUNC, 0, data[:8], errors.New("connection reset")); err == nil {
				t.Fatal("interrupted upload closed without error")
			}
			if _, err := base.Stat("/in/b.bin"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("interrupted upload published: %v", err)
			}
			fi, err := a.Stat("/in/b.bin")
			if err != nil || !IsPartial(fi) || fi.Size() != 8 || fi.Name() != "b.bin" {
				t.Fatalf("partial stat: %v %v", fi, err)
			}
			if err := upload(t, a, "/in/b.bin", 0, 12, data[12:], nil); !errors.Is(err, ErrInvalidOffset) {
				t.Fatalf("resume beyond the partial data: %v", err)
			}
			if err := upload(t, a, "/in/b.bin", 0, 8, data[8:], nil); err != nil {
				t.Fatalf("resume: %v", err)
			}
			if got, _ := afero.ReadFile(a, "/in/b.bin"); string(got) != data {
				t.Fatalf("resumed file %q", got)
			}
			last := c.uploads[len(c.uploads)-1]
			full := sha256.Sum256([]byte(data))
			if string(last.SHA256) != string(full[:]) || last.Written != 12 || last.Size != 20 {
				t.Fatalf("resumed commit %+v", last)
			}

			// Restarting earlier than the partial end cuts it there.
			upload(t, a, "/in/c.bin", os.O_TRUNC, 0, "xxxxxxxx", errors.New("abort"))
			if err := upload(t, a, "/in/c.bin", 0, 3, "YYY", nil); err != nil {
				t.Fatal(err)
			}
			if got, _ := afero.ReadFile(a, "/in/c.bin"); string(got) != "xxxYYY" {
				t.Fatalf("restart at 3: %q", got)
			}
			if want := sha256.Sum256([]byte("xxxYYY")); string(c.uploads[len(c.uploads)-1].SHA256) != string(want[:]) {
				t.Fatalf("restarted upload's hash %x", c.uploads[len(c.uploads)-1].SHA256)
			}
			// A new upload is hashed as it is written; cut back while open,
			// it is hashed as it ends up.
			f, err = a.OpenFile("/in/e.bin", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("abcdef"))
			if _, err := f.Seek(2, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("XY"))
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if want := sha256.Sum256([]byte("abXY")); string(c.uploads[len(c.uploads)-1].SHA256) != string(want[:]) {
				t.Fatalf("hash of an upload cut back while open: %x", c.uploads[len(c.uploads)-1].SHA256)
			}

			// APPE continues a finished file atomically.
			if err := upload(t, a, "/in/a.txt", os.O_APPEND, 0, "!", nil); err != nil {
				t.Fatal(err)
			}
			if got, _ := afero.ReadFile(a, "/in/a.txt"); string(got) != "hello world!" {
				t.Fatalf("append %q", got)
			}
			if l := c.uploads[len(c.uploads)-1]; !l.Replaces || l.PrevSize != 11 || l.Size != 12 {
				t.Fatalf("append commit %+v", l)
			}

			// A refused commit publishes nothing and keeps the data to resume.
			c.refuse = errors.New("over quota")
			if err := upload(t, a, "/in/d.bin", os.O_TRUNC, 0, "data", nil); err == nil {
				t.Fatal("refused commit returned no error")
			}
			if _, err := base.Stat("/in/d.bin"); err == nil {
				t.Fatal("refused upload published")
			}
			if fi, err := a.Stat("/in/d.bin"); err != nil || !IsPartial(fi) {
				t.Fatalf("refused upload not kept for resume: %v", err)
			}
			c.refuse = nil
			// DELE abandons an interrupted upload.
			if err := a.Remove("/in/d.bin"); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Stat("/in/d.bin"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("abandoned upload still there: %v", err)
			}

			// The staging folder is out of reach.
			for _, name := range []string{"/" + StagingDir, "/" + StagingDir + "/x", "/a/../" + StagingDir + "/y"} {
				if _, err := a.Open(name); !errors.Is(err, ErrStaging) {
					t.Errorf("Open(%s): %v", name, err)
				}
				if err := upload(t, a, name, os.O_TRUNC, 0, "x", nil); !errors.Is(err, ErrStaging) {
					t.Errorf("upload to %s: %v", name, err)
				}
				if err := a.Rename("/in/a.txt", name); !errors.Is(err, ErrStaging) {
					t.Errorf("rename to %s: %v", name, err)
				}
			}
			// Readdirnames hides it too.
			d, _ := a.Open("/")
			names, _ = d.Readdirnames(-1)
			d.Close()
			for _, n := range names {
				if n == StagingDir {
					t.Error("Readdirnames lists the staging folder")
				}
			}
		})
	}
}

func list(t *testing.T, f afero.Fs, dir string) []string {
	t.Helper()
	d, err := f.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	infos, err := d.Readdir(-1)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, fi := range infos {
		out = append(out, fi.Name())
	}
	return out
}

func TestQuota(t *testing.T) {
	for bname, base := range backends(t) {
		t.Run(bname, func(t *testing.T) {
			lim := Limits{MaxBytes: 100, MaxFiles: 2, UsedBytes: 60, UsedFiles: 1}
			a := NewAtomic(context.Background(), base, nil)
			q := NewQuota(context.Background(), a, LimiterFunc(func(context.Context) (Limits, error) { return lim, nil }))
			if err := upload(t, q, "/small", os.O_TRUNC, 0, strings.Repeat("x", 40), nil); err != nil {
				t.Fatalf("upload within quota: %v", err)
			}
			lim.UsedBytes, lim.UsedFiles = 100, 2
			// Over the file count: refused at open.
			if err := upload(t, q, "/third", os.O_TRUNC, 0, "x", nil); !errors.Is(err, ErrQuotaExceeded) {
				t.Fatalf("third file: %v", err)
			}
			lim.MaxFiles = 0
			// Over the byte quota: refused while writing, nothing published.
			err := upload(t, q, "/big", os.O_TRUNC, 0, strings.Repeat("y", 10), nil)
			if !errors.Is(err, ErrQuotaExceeded) {
				t.Fatalf("big file: %v", err)
			}
			if _, err := base.Stat("/big"); err == nil {
				t.Fatal("upload over quota published")
			}
			// Replacing a file may use the space it frees.
			if err := upload(t, q, "/small", os.O_TRUNC, 0, strings.Repeat("z", 40), nil); err != nil {
				t.Fatalf("replace within freed space: %v", err)
			}
			if err := upload(t, q, "/small", os.O_TRUNC, 0, strings.Repeat("z", 41), nil); !errors.Is(err, ErrQuotaExceeded) {
				t.Fatalf("replace growing past quota: %v", err)
			}
		})
	}
}

// A staged file whose writer is alive is neither reported nor taken over;
// one whose writer died (its lock is free) is resumed.
func TestAtomicOrphanedUpload(t *testing.T) {
	r, err := OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a := NewAtomic(context.Background(), r, nil)
	live, err := a.OpenFile("/x.bin", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	live.Write([]byte("live data"))
	if _, err := a.Stat("/x.bin"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an upload in progress is reported: %v", err)
	}
	other, err := a.OpenFile("/x.bin", os.O_WRONLY|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := other.Stat(); fi.Size() != 0 {
		t.Fatal("a second session took over an upload in progress")
	}
	other.(interface{ TransferError(error) }).TransferError(errors.New("x"))
	other.Close()
	// The writer dies without closing through Atomic (a crash): its staged
	// file stays under its in-progress name with the lock released.
	live.(*atomicFile).File.Close()
	fi, err := a.Stat("/x.bin")
	if err != nil || !IsPartial(fi) || fi.Size() != 9 {
		t.Fatalf("orphaned upload: %v %v", fi, err)
	}
	if err := upload(t, a, "/x.bin", 0, 9, " resumed", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := afero.ReadFile(a, "/x.bin"); string(got) != "live data resumed" {
		t.Fatalf("resumed orphan: %q", got)
	}
}

// syncGate is a file system whose files' Sync waits for release and then
// returns err: a disk whose fsync takes as long as the test wants.
type syncGate struct {
	afero.Fs
	started chan struct{} // a Sync began (buffered)
	release chan struct{}
	err     error
}

func (g *syncGate) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	f, err := g.Fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return gatedFile{File: f, g: g}, nil
}

type gatedFile struct {
	afero.File
	g *syncGate
}

func (f gatedFile) Sync() error {
	f.g.started <- struct{}{}
	<-f.g.release
	return f.g.err
}

// gateCommitter reserves (notes that it ran) and then publishes.
type gateCommitter struct {
	reserved chan struct{}
	err      error // what publish returned
}

func (c *gateCommitter) CommitUpload(_ context.Context, _ *Upload, publish func() error) error {
	close(c.reserved)
	c.err = publish()
	return c.err
}

// The data's fsync runs when the committer publishes, after its
// reservation, and nothing is published before the fsync has returned; a
// failed fsync publishes nothing and keeps the data for a resume.
func TestAtomicPublishWaitsForSync(t *testing.T) {
	for _, fail := range []error{nil, errors.New("input/output error")} {
		t.Run(fmt.Sprintf("sync error %v", fail), func(t *testing.T) {
			g := &syncGate{Fs: afero.NewMemMapFs(), started: make(chan struct{}, 1), release: make(chan struct{}), err: fail}
			c := &gateCommitter{reserved: make(chan struct{})}
			a := NewAtomic(context.Background(), g, c)
			done := make(chan error, 1)
			go func() { done <- upload(t, a, "/a.txt", os.O_TRUNC, 0, "all of it", nil) }()
			var once sync.Once
			release := func() { once.Do(func() { close(g.release) }) }
			defer func() { release(); <-done }()
			<-g.started
			select {
			case <-c.reserved: // publish, and its fsync, come after the reservation
			default:
				t.Fatal("the data was synced before the committer reserved the upload")
			}
			if _, err := g.Fs.Stat("/a.txt"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("published before its fsync returned: %v", err)
			}
			release()
			err := <-done
			done <- err // for the deferred wait
			_, statErr := g.Fs.Stat("/a.txt")
			if fail == nil {
				if err != nil || statErr != nil {
					t.Fatalf("upload: %v; published: %v", err, statErr)
				}
				return
			}
			if !errors.Is(err, fail) || !errors.Is(c.err, fail) {
				t.Fatalf("upload returned %v, publish %v; want the fsync's error", err, c.err)
			}
			if !errors.Is(statErr, fs.ErrNotExist) {
				t.Fatalf("published after a failed fsync: %v", statErr)
			}
			if data, err := afero.ReadFile(g.Fs, partialName("/a.txt")); err != nil || string(data) != "all of it" {
				t.Fatalf("kept for a resume: %q, %v", data, err)
			}
		})
	}
}
