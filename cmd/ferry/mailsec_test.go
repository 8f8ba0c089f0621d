package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Ferry's keys are generated on first start into the data dir (secret
// files 0600), published by the API, kept across a restart (the same
// fingerprints), and no private key reaches the log.
func TestMailSecurityKeysSurviveRestart(t *testing.T) {
	bin := buildFerry(t)
	dir := t.TempDir()
	const token = "mail-security-test-admin-token"
	n := newNode(t, "mailsec", bin, dir, "FERRY_ADMIN_TOKEN="+token, "FERRY_MAIL_FROM=Ferry <alerts@ferry.test>")
	type keys struct {
		Email              string `json:"email"`
		OpenPGPFingerprint string `json:"openpgp_fingerprint"`
		SMIMEFingerprint   string `json:"smime_fingerprint"`
		OpenPGP            string `json:"openpgp"`
	}
	get := func() keys {
		t.Helper()
		code, body := n.api(http.MethodGet, "/api/v1/mail-security", token, nil)
		var k keys
		if code != http.StatusOK || json.Unmarshal(body, &k) != nil || k.OpenPGPFingerprint == "" {
			t.Fatalf("mail-security: %d %s", code, body)
		}
		return k
	}
	n.start()
	n.waitHealthy()
	first := get()
	if first.Email != "alerts@ferry.test" || !strings.Contains(n.logs(), first.OpenPGPFingerprint) {
		t.Fatalf("keys %+v; log:\n%s", first, n.logs())
	}
	for _, f := range []string{"openpgp-key.asc", "smime-key.pem"} {
		fi, err := os.Stat(filepath.Join(dir, "data", "mailsec", f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, err, fi)
		}
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	logs := n.logs()
	n.start()
	n.waitHealthy()
	if again := get(); again != first {
		t.Fatalf("keys changed across a restart:\n%+v\n%+v", first, again)
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	if logs += n.logs(); strings.Contains(logs, "PRIVATE") || strings.Contains(logs, "-----BEGIN") {
		t.Fatalf("key material in the log:\n%s", logs)
	}
}
