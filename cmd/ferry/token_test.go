package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/adminauth"
	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// ferry token create / list / revoke, in process, and the tokens at work
// against the API handler on the same database.
func TestTokenCommand(t *testing.T) {
	ctx := context.Background()
	dataDir := filepath.Join(t.TempDir(), "data")
	run := func(args ...string) (stdout, stderr string, err error) {
		var out, errOut bytes.Buffer
		a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}
		err = a.run(ctx, append(args, "--data-dir", dataDir))
		return out.String(), errOut.String(), err
	}

	out, info, err := run("token", "create", "--role", "auditor", "--name", "grafana")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, info)
	}
	auditor := strings.TrimSpace(out)
	if !strings.HasPrefix(auditor, "ferry_") || strings.Contains(auditor, "\n") || !strings.Contains(info, "shown once") ||
		!strings.Contains(info, `auditor token "grafana"`) {
		t.Fatalf("token create printed %q and %q", out, info)
	}
	out, _, err = run("token", "create", "--role", "admin")
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(out)

	st, err := store.Open(ctx, "", store.Options{SQLitePath: filepath.Join(dataDir, "ferry.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.APITokenByHash(ctx, adminauth.HashToken(auditor))
	if err != nil || rec.Role != adminauth.RoleAuditor || rec.Name != "grafana" || rec.TokenHash == auditor {
		t.Fatalf("stored token: %+v, %v", rec, err)
	}

	srv := &api.Server{Store: st, Partners: &partners.Service{Store: st, FilesDir: filepath.Join(dataDir, "files")}}
	call := func(method, token, body string) int {
		req := httptest.NewRequest(method, "/api/v1/partners", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, req)
		return w.Code
	}
	if code := call("GET", auditor, ""); code != http.StatusOK {
		t.Errorf("auditor GET: %d", code)
	}
	if code := call("POST", auditor, `{"slug":"acme"}`); code != http.StatusForbidden {
		t.Errorf("auditor POST: %d", code)
	}
	if code := call("POST", admin, `{"slug":"acme"}`); code != http.StatusCreated {
		t.Errorf("admin POST: %d", code)
	}

	out, _, err = run("token", "list")
	if err != nil || !strings.Contains(out, "grafana") || !strings.Contains(out, rec.ID) || strings.Contains(out, auditor) {
		t.Fatalf("token list: %v\n%s", err, out)
	}
	if out, _, err = run("token", "revoke", rec.ID); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("token revoke: %v %s", err, out)
	}
	if code := call("GET", auditor, ""); code != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", code)
	}
	if _, _, err := run("token", "revoke", rec.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking twice: %v", err)
	}

	// Usage errors exit 2.
	for _, args := range [][]string{
		{"token", "create"}, {"token", "create", "--role", "root"}, {"token", "create", "--role", "admin", "extra"},
		{"token", "revoke"}, {"token", "frobnicate"}, {"token"},
	} {
		if _, _, err := run(args...); err == nil || exitCode(err) != 2 {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
}
