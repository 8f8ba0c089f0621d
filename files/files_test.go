package files_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/files"
	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
	"github.com/ferryhq/ferry/vfs"
)

type env struct {
	st      *store.Store
	svc     *files.Service
	partner *store.Partner
}

func newEnv(t testing.TB, b storetest.Backend, quota int64) *env {
	t.Helper()
	st := storetest.Open(t, b)
	dir := filepath.Join(t.TempDir(), "files")
	ps := &partners.Service{Store: st, FilesDir: dir, Hash: password.Params{Memory: 1024, Time: 1, Threads: 1}}
	p, err := ps.CreatePartner(context.Background(), partners.PartnerInput{Slug: "acme", Enabled: true, QuotaBytes: quota})
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, svc: &files.Service{Store: st, FilesDir: dir}, partner: p}
}

func (e *env) open(t *testing.T, home string, perms partners.Perm) *files.Tree {
	t.Helper()
	tree, err := e.svc.Open(context.Background(), files.Principal{PartnerID: e.partner.ID, PartnerSlug: "acme",
		Username: "tester", Protocol: "test", HomeDir: home, Perms: perms})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tree.Close() })
	return tree
}

func (e *env) usage(t *testing.T) [2]int64 {
	t.Helper()
	p, err := e.st.PartnerUsage(context.Background(), e.partner.ID)
	if err != nil {
		t.Fatal(err)
	}
	return [2]int64{p.UsedBytes, p.UsedFiles}
}

// rows is the partner's audit rows, oldest first.
func (e *env) rows(t *testing.T) []store.Transfer {
	t.Helper()
	rows, err := e.st.ListTransfers(context.Background(), store.TransferFilter{PartnerID: e.partner.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	return rows
}

// Each operation of a tree charges or refunds the quota and writes its row,
// with paths in the partner's tree whatever the principal's home.
func TestOperations(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, 1000)
			tree := e.open(t, "/in", partners.PermAll)
			steps := []struct {
				name  string
				do    func() error
				usage [2]int64
				row   store.Transfer
			}{
				{"upload", func() error { _, err := tree.Upload("/a.txt", strings.NewReader("12345")); return err },
					[2]int64{5, 1}, store.Transfer{Operation: store.OpUpload, Path: "/in/a.txt", Bytes: 5, FileSize: 5, UsageBytes: 5, UsageFiles: 1}},
				{"upload b", func() error { _, err := tree.Upload("/b.txt", strings.NewReader("12")); return err },
					[2]int64{7, 2}, store.Transfer{Operation: store.OpUpload, Path: "/in/b.txt", Bytes: 2, FileSize: 2, UsageBytes: 2, UsageFiles: 1}},
				{"mkdir", func() error { return tree.Mkdir("/d", 0o750) },
					[2]int64{7, 2}, store.Transfer{Operation: store.OpMkdir, Path: "/in/d"}},
				{"rename over", func() error { return tree.Rename("/a.txt", "/b.txt") },
					[2]int64{5, 1}, store.Transfer{Operation: store.OpRename, Path: "/in/a.txt", TargetPath: "/in/b.txt", UsageBytes: -2, UsageFiles: -1}},
				{"delete", func() error { return tree.Remove("/b.txt") },
					[2]int64{0, 0}, store.Transfer{Operation: store.OpDelete, Path: "/in/b.txt", Bytes: 5, UsageBytes: -5, UsageFiles: -1}},
				{"rmdir", func() error { return tree.RemoveDir("/d") },
					[2]int64{0, 0}, store.Transfer{Operation: store.OpRmdir, Path: "/in/d"}},
			}
			for _, s := range steps {
				if err := s.do(); err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if u := e.usage(t); u != s.usage {
					t.Errorf("%s: usage %v, want %v", s.name, u, s.usage)
				}
			}
			rows := e.rows(t)
			if len(rows) != len(steps) {
				t.Fatalf("%d rows, want %d", len(rows), len(steps))
			}
			for i, s := range steps {
				r := rows[i]
				got := store.Transfer{Operation: r.Operation, Path: r.Path, TargetPath: r.TargetPath, Bytes: r.Bytes,
					FileSize: r.FileSize, UsageBytes: r.UsageBytes, UsageFiles: r.UsageFiles}
				if got != s.row || r.Status != store.StatusOK || r.Username != "tester" || r.Protocol != "test" {
					t.Errorf("%s: row %+v (%s), want %+v", s.name, got, r.Status, s.row)
				}
			}
		})
	}
}

// What fails is recorded as failed and changes no usage: a folder deleted
// as a file, an operation the principal may not do, an upload over quota
// (nothing is published).
func TestRefusals(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0], 4)
	all := e.open(t, "/", partners.PermAll)
	if err := all.Mkdir("/d", 0o750); err != nil {
		t.Fatal(err)
	}
	if err := all.Remove("/d"); !errors.Is(err, files.ErrIsFolder) {
		t.Errorf("delete a folder: %v", err)
	}
	if _, err := all.Upload("/big", bytes.NewReader(make([]byte, 10))); !errors.Is(err, vfs.ErrQuotaExceeded) {
		t.Errorf("upload over quota: %v", err)
	}
	if _, err := all.Fs().Stat("/big"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("upload over quota was published: %v", err)
	}
	readOnly := e.open(t, "/", partners.PermList|partners.PermDownload)
	if err := readOnly.Rename("/d", "/e"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("rename without the permission: %v", err)
	}
	if u := e.usage(t); u != [2]int64{} {
		t.Errorf("usage %v after refusals", u)
	}
	var failed []string
	for _, r := range e.rows(t) {
		if r.Status == store.StatusFailed {
			failed = append(failed, r.Operation+" "+r.Path)
		}
	}
	if want := []string{"delete /d", "upload /big", "rename /d"}; strings.Join(failed, ",") != strings.Join(want, ",") {
		t.Errorf("failed rows %v, want %v", failed, want)
	}
}

// A delete refunds the file's size whatever else the principal may do: an
// account that may only delete (one that clears an outbox folder) gave
// nothing back when the file core's stat before the delete needed the list,
// download or upload permission.
func TestDeleteOnlyRefunds(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0], 1000)
	all := e.open(t, "/", partners.PermAll)
	if _, err := all.Upload("/a.txt", strings.NewReader("12345")); err != nil {
		t.Fatal(err)
	}
	deleter := e.open(t, "/", partners.PermDelete)
	if err := deleter.Remove("/a.txt"); err != nil {
		t.Fatal(err)
	}
	if u := e.usage(t); u != [2]int64{} {
		t.Errorf("usage %v after the delete, want none", u)
	}
}

// Recover needs no front end: a publish a crash interrupted after the
// rename is completed (with the hook), one before it is rolled back with
// its data kept for a resume. Sweep deletes interrupted uploads past their
// age.
func TestRecoverAndSweep(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0], 0)
	ctx := context.Background()
	var hooked []string
	e.svc.OnUpload = func(_ context.Context, _ *store.Store, tr *store.Transfer) error {
		hooked = append(hooked, tr.Path)
		return nil
	}
	dir := e.svc.PartnerDir("acme")
	write := func(name, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	write("done.bin", "12345")
	write(vfs.StagingDir+"/waiting", "123")
	rows := []*store.Transfer{
		{PartnerID: &e.partner.ID, Protocol: "ftp", Operation: store.OpUpload, Path: "/done.bin", FileSize: 5,
			UsageBytes: 5, UsageFiles: 1, StagingPath: "/" + vfs.StagingDir + "/gone", StartedAt: time.Now()},
		{PartnerID: &e.partner.ID, Protocol: "ftp", Operation: store.OpUpload, Path: "/never.bin", FileSize: 3,
			UsageBytes: 3, UsageFiles: 1, StagingPath: "/" + vfs.StagingDir + "/waiting", StartedAt: time.Now()},
		// Published, then renamed by the client after its 226, before the
		// finish was written (FTP finishes in the background).
		{PartnerID: &e.partner.ID, Protocol: "ftp", Operation: store.OpUpload, Path: "/moved.tmp", FileSize: 4,
			UsageBytes: 4, UsageFiles: 1, StagingPath: "/" + vfs.StagingDir + "/renamed", StartedAt: time.Now()},
	}
	for _, r := range rows {
		if err := e.st.BeginUpload(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if f, a, err := e.svc.Recover(ctx, time.Hour); err != nil || f+a != 0 {
		t.Fatalf("young rows were touched: %d %d %v", f, a, err)
	}
	if f, a, err := e.svc.Recover(ctx, 0); err != nil || f != 2 || a != 1 {
		t.Fatalf("recover: finished %d aborted %d err %v", f, a, err)
	}
	if strings.Join(hooked, " ") != "/done.bin /moved.tmp" {
		t.Errorf("hook ran for %v", hooked)
	}
	if u := e.usage(t); u != [2]int64{9, 2} {
		t.Errorf("usage after recovery %v, want 9 bytes in 2 files", u)
	}
	// A row hashed after publish gets its hash from the file in place.
	done, err := e.st.TransferByID(ctx, rows[0].ID)
	if sum := sha256.Sum256([]byte("12345")); err != nil || done.SHA256 != hex.EncodeToString(sum[:]) || done.Status != store.StatusOK {
		t.Errorf("recovered row %+v (%v): want status ok and the file's SHA-256", done, err)
	}
	partial := filepath.Join(dir, filepath.FromSlash(vfs.PartialPath("/never.bin")))
	if _, err := os.Stat(partial); err != nil {
		t.Fatalf("unpublished data not kept for a resume: %v", err)
	}
	if n, err := e.svc.Sweep(ctx, "acme", time.Hour); err != nil || n != 0 {
		t.Errorf("sweep of a young partial upload: %d %v", n, err)
	}
	if n, err := e.svc.Sweep(ctx, "acme", -time.Second); err != nil || n != 1 {
		t.Errorf("sweep: %d %v", n, err)
	}
	if _, err := os.Stat(partial); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("swept partial upload still there: %v", err)
	}
}
