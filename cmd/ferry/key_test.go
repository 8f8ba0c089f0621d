package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
