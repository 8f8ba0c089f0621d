package api_test

import (
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store/storetest"
)

// Whatever arrives as a body, the API answers a documented status with a
// well-formed reply, and never a 500.
func FuzzRequestBody(f *testing.F) {
	for _, seed := range []string{
		`{"slug":"acme"}`, `{"slug":"acme","quota":{"bytes":1}}`, `{`, `[]`, `null`, `""`, `{"slug":"a","x":1}`,
		`{"username":"alice","permissions":["list"]}`, `{"slug":"b"} {}`, "\x00\xff", `{"enabled":"yes"}`,
		`{"contacts":["a@b.example", 5]}`, `{"generate_password":true,"password":"x"}`,
	} {
		f.Add(seed, "POST", "/api/v1/partners")
		f.Add(seed, "PATCH", "/api/v1/partners/acme")
		f.Add(seed, "POST", "/api/v1/partners/acme/accounts")
		f.Add(seed, "PATCH", "/api/v1/partners/acme/accounts/alice")
	}
	st := storetest.Open(f, storetest.Backends()[0])
	svc := &partners.Service{Store: st, FilesDir: filepath.Join(f.TempDir(), "files"), Hash: password.Params{Memory: 1024, Time: 1, Threads: 1}}
	srv := &api.Server{Store: st, Partners: svc, AdminToken: "fuzz-admin-token-0123456789", MaxBodyBytes: 4096}
	f.Fuzz(func(t *testing.T, body, method, path string) {
		if method != "POST" && method != "PATCH" || !strings.HasPrefix(path, "/api/v1/partners") ||
			strings.IndexFunc(path, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune("?#%", r) }) >= 0 {
			return // only the bodies are fuzzed; paths stay well-formed
		}
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer fuzz-admin-token-0123456789")
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, req)
		switch w.Code {
		case 200, 201, 400, 404, 405, 409, 413, 422:
		default:
			t.Fatalf("%s %s %q: status %d\n%s", method, path, body, w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("reply is not JSON: %q", w.Body)
		}
		if ct := w.Header().Get("Content-Type"); w.Code >= 400 && ct != "application/problem+json" {
			t.Fatalf("%d with Content-Type %q", w.Code, ct)
		}
	})
}
