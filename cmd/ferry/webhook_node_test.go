package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/internal/testenv"
)

// A node with FERRY_WEBHOOK_ALLOW_PRIVATE: a webhook made over the API on a
// receiver on 127.0.0.1 gets a real FTP upload's event, and the README's
// Python check of the signature accepts it (and refuses a changed body).
func TestFerryBinaryWebhook(t *testing.T) {
	testenv.Need(t, "python3")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```python\n(.*?def verify.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no ```python block with def verify")
	}
	verifyPy := string(m[1])

	type got struct {
		header http.Header
		body   []byte
	}
	var (
		mu   sync.Mutex
		hits []got
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hits = append(hits, got{r.Header.Clone(), b})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)

	bin := buildFerry(t)
	token := "env-token-0123456789abcdef"
	n := newNode(t, "hooks", bin, t.TempDir(), "FERRY_ADMIN_TOKEN="+token, "FERRY_WEBHOOK_ALLOW_PRIVATE=true")
	n.start()
	n.waitHealthy()
	if code, raw := n.api("POST", "/api/v1/partners", token, map[string]any{"slug": "acme"}); code != http.StatusCreated {
		t.Fatalf("partner: %d %s", code, raw)
	}
	code, raw := n.api("POST", "/api/v1/partners/acme/accounts", token, map[string]any{"username": "alice",
		"password": "correct horse battery"})
	if code != http.StatusCreated {
		t.Fatalf("account: %d %s", code, raw)
	}
	code, raw = n.api("POST", "/api/v1/webhooks", token, map[string]any{"url": rcv.URL + "/ferry",
		"events": []string{"upload.finished"}, "partner": "acme"})
	if code != http.StatusCreated {
		t.Fatalf("webhook: %d %s", code, raw)
	}
	var hook struct{ Secret string }
	if err := json.Unmarshal(raw, &hook); err != nil || hook.Secret == "" {
		t.Fatalf("webhook reply %s", raw)
	}

	c, err := ftp.Dial(n.ftp, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("pay.csv", strings.NewReader("a,b\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.Quit()
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		k := len(hits)
		mu.Unlock()
		if k > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no webhook request within 15s; node log:\n%s", n.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	h := hits[0]
	mu.Unlock()
	if !strings.Contains(string(h.body), `"event":"upload.finished"`) || !strings.Contains(string(h.body), `"path":"/pay.csv"`) {
		t.Fatalf("body %s", h.body)
	}
	script := verifyPy + `
import os, sys
secret, header, body = os.environ["SECRET"].encode(), os.environ["SIG"], open(os.environ["BODY"], "rb").read()
print(verify(secret, header, body), verify(secret, header, body + b" "), verify(b"wrong", header, body))
`
	bodyFile := t.TempDir() + "/body"
	if err := os.WriteFile(bodyFile, h.body, 0o600); err != nil {
		t.Fatal(err)
	}
	out := python(t, script, "SECRET="+hook.Secret, "SIG="+h.header.Get("X-Ferry-Signature"), "BODY="+bodyFile)
	if out != "True False False" {
		t.Fatalf("README's verify: %q (signature %q)", out, h.header.Get("X-Ferry-Signature"))
	}
}
