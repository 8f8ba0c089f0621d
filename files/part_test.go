package files_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
	"github.com/ferryhq/ferry/vfs"
)

// A chunked upload stays invisible between its parts, resumes where the
// staged data ends (a part sent again after a dropped connection too), and
// is published by its last part with one upload row and its quota charge.
func TestUploadPart(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, 1000)
			tree := e.open(t, "/in", partners.PermAll)
			data := []byte(strings.Repeat("0123456789", 30))
			if n, err := tree.UploadPart("/big.bin", 0, bytes.NewReader(data[:100]), false); err != nil || n != 100 {
				t.Fatalf("part 1: %d %v", n, err)
			}
			if _, err := tree.Fs().Open("/big.bin"); err == nil {
				t.Fatal("a half-done upload is visible")
			}
			if n, ok := tree.Staged("/big.bin"); !ok || n != 100 {
				t.Fatalf("staged: %d %v", n, ok)
			}
			// A part past the staged data is refused with where to go on.
			if n, err := tree.UploadPart("/big.bin", 150, bytes.NewReader(data[150:200]), false); !errors.Is(err, vfs.ErrInvalidOffset) || n != 100 {
				t.Fatalf("part past the end: %d %v", n, err)
			}
			// A part the server got half of before the connection dropped
			// is sent again from its start: the staged copy is cut back.
			if n, err := tree.UploadPart("/big.bin", 100, bytes.NewReader(data[100:150]), false); err != nil || n != 150 {
				t.Fatalf("part 2: %d %v", n, err)
			}
			if n, err := tree.UploadPart("/big.bin", 100, bytes.NewReader(data[100:200]), false); err != nil || n != 200 {
				t.Fatalf("part 2 again: %d %v", n, err)
			}
			if len(e.rows(t)) != 0 {
				t.Fatalf("rows before the last part: %+v", e.rows(t))
			}
			if n, err := tree.UploadPart("/big.bin", 200, bytes.NewReader(data[200:]), true); err != nil || n != int64(len(data)) {
				t.Fatalf("last part: %d %v", n, err)
			}
			got, err := os.ReadFile(filepath.Join(e.svc.PartnerDir("acme"), "in", "big.bin"))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("published: %d bytes, %v", len(got), err)
			}
			rows := e.rows(t)
			if len(rows) != 1 || rows[0].Operation != store.OpUpload || rows[0].Status != store.StatusOK ||
				rows[0].FileSize != int64(len(data)) || rows[0].Path != "/in/big.bin" {
				t.Fatalf("rows: %+v", rows)
			}
			if u := e.usage(t); u != [2]int64{int64(len(data)), 1} {
				t.Fatalf("usage %v", u)
			}
			// Resuming with nothing staged is refused.
			if _, err := tree.UploadPart("/other.bin", 10, bytes.NewReader(data), true); !errors.Is(err, vfs.ErrInvalidOffset) {
				t.Fatalf("resume of nothing: %v", err)
			}
			// A last part over the quota is refused and publishes nothing.
			if _, err := tree.UploadPart("/huge.bin", 0, bytes.NewReader(make([]byte, 800)), true); !errors.Is(err, vfs.ErrQuotaExceeded) {
				t.Fatalf("over quota: %v", err)
			}
			if _, err := tree.Fs().Stat("/huge.bin"); err == nil {
				t.Fatal("an upload over the quota is visible")
			}
		})
	}
}
