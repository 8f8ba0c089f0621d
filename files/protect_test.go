package files_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/files"
	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/mailsec/mailsectest"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
	"github.com/ferryhq/ferry/vfs"
)

// encrypt_uploads: the store holds only name.ext.pgp, which gpg with the
// internal system's secret key decrypts byte-exact; the audit row keeps the
// plaintext SHA-256 and the ciphertext size; without a usable key the
// upload is refused and nothing stays in clear.
func TestEncryptUploads(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, 0)
			ctx := context.Background()
			reg := &mailsec.Registry{Store: e.st}
			e.svc.Keys = reg
			g := mailsectest.NewGPG(t)
			erp := g.GenKey("ERP <erp@corp.example>", "1y")
			if _, err := reg.Add(ctx, mailsec.KindOpenPGP, "erp@corp.example", g.Export(erp)); err != nil {
				t.Fatal(err)
			}
			list := []string{"erp@corp.example"}
			if _, err := (&partners.Service{Store: e.st, FilesDir: e.svc.FilesDir}).UpdatePartner(ctx, "acme",
				partners.PartnerPatch{EncryptUploads: &list}, nil); err != nil {
				t.Fatal(err)
			}
			plain := make([]byte, 300_000)
			rand.Read(plain)
			tree := e.open(t, "/", partners.PermAll)
			if err := tree.Mkdir("/in", 0o750); err != nil {
				t.Fatal(err)
			}
			if _, err := tree.Upload("/in/report.csv", bytes.NewReader(plain)); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(e.svc.FilesDir, "acme", "in")
			if _, err := os.Stat(filepath.Join(dir, "report.csv")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("plaintext on disk: %v", err)
			}
			ct, err := os.ReadFile(filepath.Join(dir, "report.csv.pgp"))
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out")
			g.Run(nil, "--output", out, "--decrypt", filepath.Join(dir, "report.csv.pgp"))
			if got, _ := os.ReadFile(out); !bytes.Equal(got, plain) {
				t.Fatalf("gpg --decrypt gave %d bytes, want the %d uploaded", len(got), len(plain))
			}
			rows := e.rows(t)
			r := rows[len(rows)-1]
			if r.Path != "/in/report.csv.pgp" || r.SHA256 != fmt.Sprintf("%x", sha256.Sum256(plain)) || r.FileSize != int64(len(ct)) ||
				r.EncryptedTo != erp || r.Status != store.StatusOK {
				t.Fatalf("row %+v", r)
			}
			if u := e.usage(t); u != [2]int64{int64(len(ct)), 1} {
				t.Fatalf("usage %v, want the ciphertext's %d bytes", u, len(ct))
			}

			// An upload over vfs.InlineHashMax, hashed (and synced) before it
			// is encrypted, then published.
			big := make([]byte, vfs.InlineHashMax+200_000)
			rand.Read(big)
			if _, err := tree.Upload("/in/big.bin", bytes.NewReader(big)); err != nil {
				t.Fatal(err)
			}
			g.Run(nil, "--output", out+".big", "--decrypt", filepath.Join(dir, "big.bin.pgp"))
			if got, _ := os.ReadFile(out + ".big"); !bytes.Equal(got, big) {
				t.Fatalf("gpg --decrypt of the big upload gave %d bytes, want %d", len(got), len(big))
			}
			rows = e.rows(t)
			if r := rows[len(rows)-1]; r.Path != "/in/big.bin.pgp" || r.SHA256 != fmt.Sprintf("%x", sha256.Sum256(big)) {
				t.Fatalf("big upload's row %+v", r)
			}

			// A second recipient without a key: refused, nothing in clear.
			list = append(list, "archive@corp.example")
			if _, err := (&partners.Service{Store: e.st, FilesDir: e.svc.FilesDir}).UpdatePartner(ctx, "acme",
				partners.PartnerPatch{EncryptUploads: &list}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := tree.Upload("/in/second.csv", strings.NewReader("secret")); !errors.Is(err, files.ErrNoUploadKey) {
				t.Fatalf("upload without a key: %v", err)
			}
			filepath.WalkDir(filepath.Join(e.svc.FilesDir, "acme"), func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("secret")) {
						t.Errorf("plaintext left at %s", p)
					}
				}
				return nil
			})
		})
	}
}

// verify_uploads: a detached signature by the partner's registered key
// (gpg --detach-sign, binary or armored) verifies, whichever of file and
// signature comes first; a tampered file, or another key, does not.
func TestVerifyUploads(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0], 0)
	ctx := context.Background()
	reg := &mailsec.Registry{Store: e.st}
	e.svc.Keys = reg
	g := mailsectest.NewGPG(t)
	ops := g.GenKey("Ops <ops@acme.example>", "1y")
	other := g.GenKey("Other <ops@elsewhere.example>", "1y")
	if _, err := reg.Add(ctx, mailsec.KindOpenPGP, "ops@acme.example", g.Export(ops)); err != nil {
		t.Fatal(err)
	}
	on, contacts := true, []string{"ops@acme.example"}
	if _, err := (&partners.Service{Store: e.st, FilesDir: e.svc.FilesDir}).UpdatePartner(ctx, "acme",
		partners.PartnerPatch{VerifyUploads: &on, Contacts: &contacts}, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sign := func(name, content, key string, armor bool) []byte {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		args := []string{"--local-user", key, "--output", p + ".sig", "--detach-sign", p}
		if armor {
			args = append([]string{"--armor"}, args...)
		}
		g.Run(nil, args...)
		b, _ := os.ReadFile(p + ".sig")
		return b
	}
	tree := e.open(t, "/", partners.PermAll)
	up := func(name string, data []byte) store.Transfer {
		t.Helper()
		if _, err := tree.Upload(name, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		rows := e.rows(t)
		return rows[len(rows)-1]
	}
	// File first, then its signature: the signature's row has the result.
	up("/a.csv", []byte("1;2;3\n"))
	if r := up("/a.csv.sig", sign("a.csv", "1;2;3\n", ops, false)); r.Signature != mailsec.SigValid || !strings.Contains(r.Signer, ops) {
		t.Fatalf("a.csv.sig row %+v", r)
	}
	// Signature first (armored), then the file.
	up("/b.csv.asc", sign("b.csv", "4;5;6\n", ops, true))
	if r := up("/b.csv", []byte("4;5;6\n")); r.Signature != mailsec.SigValid {
		t.Fatalf("b.csv row %+v", r)
	}
	// Tampered file.
	up("/c.csv.sig", sign("c.csv", "7;8;9\n", ops, false))
	if r := up("/c.csv", []byte("7;8;0\n")); r.Signature != mailsec.SigInvalid {
		t.Fatalf("tampered c.csv row %+v", r)
	}
	// Another key.
	up("/d.csv.sig", sign("d.csv", "x\n", other, false))
	if r := up("/d.csv", []byte("x\n")); r.Signature != mailsec.SigUnknownKey {
		t.Fatalf("d.csv row %+v", r)
	}
	// No signature: no result.
	if r := up("/e.csv", []byte("y\n")); r.Signature != "" {
		t.Fatalf("e.csv row %+v", r)
	}
}
