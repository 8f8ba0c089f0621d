package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/mailsec/mailsectest"
)

// ferry key add|list|delete, the same rules as the API (a refused key
// exits 2 with the reason), and partner --encrypt-alerts.
func TestKeyCommands(t *testing.T) {
	bin := buildFerry(t)
	dir := t.TempDir()
	f := &ferryCmd{t: t, bin: bin, dir: dir}
	g := mailsectest.NewGPG(t)
	fpr := g.GenKey("Ops <ops@acme.example>", "1y")
	out := f.ok(g.Export(fpr), "key", "add", "ops@acme.example")
	if !strings.Contains(out, "added openpgp key "+fpr+" for ops@acme.example") {
		t.Fatalf("key add: %s", out)
	}
	cert, _ := mailsectest.SMIMECert(t, dir, "boss", "boss@acme.example", "")
	if out := f.ok("", "key", "add", "boss@acme.example", cert); !strings.Contains(out, "added smime key") {
		t.Fatalf("key add smime: %s", out)
	}
	if out, code := f.run(g.Export(fpr), "key", "add", "mallory@acme.example"); code != 2 || !strings.Contains(out, "names mallory@acme.example") {
		t.Fatalf("mismatched key: exit %d %s", code, out)
	}
	os.WriteFile(filepath.Join(dir, "junk"), []byte("hello"), 0o600)
	if out, code := f.run("", "key", "add", "ops@acme.example", "junk"); code != 2 || !strings.Contains(out, "no armored OpenPGP public key") {
		t.Fatalf("junk: exit %d %s", code, out)
	}
	out = f.ok("", "key", "list")
	if !strings.Contains(out, fpr) || !strings.Contains(out, "boss@acme.example") {
		t.Fatalf("key list: %s", out)
	}
	var id string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, fpr) {
			fields := strings.Fields(line)
			id = fields[len(fields)-1]
		}
	}
	if out := f.ok("", "key", "delete", id); !strings.Contains(out, "deleted") {
		t.Fatalf("key delete: %s", out)
	}
	if out := f.ok("", "key", "list", "ops@acme.example"); strings.Contains(out, fpr) {
		t.Fatalf("key still listed: %s", out)
	}

	f.ok("", "partner", "create", "acme", "--contact", "ops@acme.example", "--encrypt-alerts", "required")
	if out := f.ok("", "partner", "show", "acme"); !strings.Contains(out, "encrypt alerts: required") {
		t.Fatalf("partner show: %s", out)
	}
	f.ok("", "partner", "set", "acme", "--encrypt-alerts", "optional")
	if out := f.ok("", "partner", "show", "acme"); !strings.Contains(out, "encrypt alerts: optional") {
		t.Fatalf("partner show: %s", out)
	}
	if out, code := f.run("", "partner", "set", "acme", "--encrypt-alerts", "always"); code != 2 || !strings.Contains(out, "encrypt_alerts") {
		t.Fatalf("bad --encrypt-alerts: exit %d %s", code, out)
	}
}

// Partner files over real FTP: with encrypt_uploads the data dir holds
// name.pgp that gpg decrypts byte-exact; with verify_uploads a detached
// signature made by gpg is checked, and the audit log (API) shows it.
func TestPartnerFilesOverFTP(t *testing.T) {
	bin := buildFerry(t)
	dir := t.TempDir()
	const token = "partner-files-test-admin-token"
	f := &ferryCmd{t: t, bin: bin, dir: dir}
	g := mailsectest.NewGPG(t)
	erp := g.GenKey("ERP <erp@corp.example>", "1y")
	ops := g.GenKey("Ops <ops@acme.example>", "1y")
	f.ok(g.Export(erp), "key", "add", "erp@corp.example")
	f.ok(g.Export(ops), "key", "add", "ops@acme.example")
	f.ok("", "partner", "create", "acme", "--contact", "ops@acme.example", "--encrypt-uploads", "erp@corp.example", "--verify-uploads")
	if out := f.ok("", "partner", "show", "acme"); !strings.Contains(out, "encrypt uploads to: erp@corp.example") || !strings.Contains(out, "verify uploads: true") {
		t.Fatalf("partner show: %s", out)
	}
	f.ok("s3cret-password\n", "account", "create", "--partner", "acme", "alice", "--password-stdin")
	content := strings.Repeat("invoice;42\n", 5000)
	os.WriteFile(filepath.Join(dir, "inv.csv"), []byte(content), 0o600)
	g.Run(nil, "--local-user", ops, "--output", filepath.Join(dir, "inv.csv.sig"), "--detach-sign", filepath.Join(dir, "inv.csv"))
	sig, _ := os.ReadFile(filepath.Join(dir, "inv.csv.sig"))

	n := newNode(t, "files", bin, dir, "FERRY_ADMIN_TOKEN="+token)
	n.start()
	n.waitHealthy()
	c, err := ftp.Dial(n.ftp, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("alice", "s3cret-password"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("inv.csv.sig", bytes.NewReader(sig)); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("inv.csv", strings.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	_ = c.Quit()
	stored := filepath.Join(dir, "data", "files", "acme", "inv.csv.pgp")
	if _, err := os.Stat(filepath.Join(dir, "data", "files", "acme", "inv.csv")); err == nil {
		t.Fatal("plaintext stored")
	}
	out := filepath.Join(dir, "dec.csv")
	g.Run(nil, "--output", out, "--decrypt", stored)
	if got, _ := os.ReadFile(out); string(got) != content {
		t.Fatalf("gpg --decrypt recovered %d bytes, want %d", len(got), len(content))
	}
	// The audit row is written in the background, within tens of
	// milliseconds of the 226.
	testenv.Eventually(t, 10*time.Second, func() error {
		code, body := n.api(http.MethodGet, "/api/v1/transfers?operation=upload", token, nil)
		if code != http.StatusOK || !strings.Contains(string(body), `"path":"/inv.csv.pgp"`) ||
			!strings.Contains(string(body), `"signature":"valid"`) || !strings.Contains(string(body), erp) {
			return fmt.Errorf("transfers: %d %s", code, body)
		}
		return nil
	})
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
}
