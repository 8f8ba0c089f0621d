package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"

	"github.com/ferryhq/ferry/adminauth"
	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/metrics"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// The OpenAPI document, loaded once: every response the tests receive is
// validated against it.
var openAPI struct {
	once    sync.Once
	v       validator.Validator
	problem *base.Schema
	schemas schema_validation.SchemaValidator
	err     error
}

func specValidator(t *testing.T) (validator.Validator, *base.Schema, schema_validation.SchemaValidator) {
	t.Helper()
	openAPI.once.Do(func() {
		doc, err := libopenapi.NewDocument(api.OpenAPI())
		if err != nil {
			openAPI.err = err
			return
		}
		m, err := doc.BuildV3Model()
		if err != nil {
			openAPI.err = err
			return
		}
		v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
		if len(errs) > 0 {
			openAPI.err = errors.Join(errs...)
			return
		}
		if ok, verrs := v.ValidateDocument(); !ok {
			var all []error
			for _, e := range verrs {
				all = append(all, e)
			}
			openAPI.err = errors.Join(all...)
			return
		}
		openAPI.v = v
		openAPI.problem = m.Model.Components.Schemas.GetOrZero("Problem").Schema()
		openAPI.schemas = schema_validation.NewSchemaValidator(config.WithFormatAssertions())
	})
	if openAPI.err != nil {
		t.Fatalf("OpenAPI document: %v", openAPI.err)
	}
	return openAPI.v, openAPI.problem, openAPI.schemas
}

// validating checks every response against the OpenAPI document. A
// response for a path or method the document does not have (unknown
// routes) must still be a valid problem document.
type validating struct {
	t    *testing.T
	base http.RoundTripper
}

func (vt *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := vt.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	v, problem, schemas := specValidator(vt.t)
	check := *resp
	check.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) == 0 {
		check.Body = http.NoBody
	}
	ok, verrs := v.ValidateHttpResponse(req, &check)
	if !ok {
		undocumented := true
		for _, e := range verrs {
			undocumented = undocumented && (e.IsPathMissingError() || e.IsOperationMissingError())
		}
		switch {
		case undocumented:
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				vt.t.Errorf("OpenAPI: %s %s (not in the document) answered %d with %q, want a problem", req.Method, req.URL.Path, resp.StatusCode, ct)
			} else if ok, perrs := schemas.ValidateSchemaBytes(problem, body); !ok {
				vt.t.Errorf("OpenAPI: %s %s answered an invalid problem: %v\n%s", req.Method, req.URL.Path, perrs, body)
			}
		default:
			for _, e := range verrs {
				vt.t.Errorf("OpenAPI: %s %s -> %d: %v\n%s", req.Method, req.URL, resp.StatusCode, e, body)
			}
		}
	}
	return resp, nil
}

const ftpPassword = "correct horse battery"

// harness is a running admin API on a fresh database, beside a running FTP
// server that shares the database, with an admin and an auditor token.
type harness struct {
	t       *testing.T
	st      *store.Store
	svc     *partners.Service
	api     *api.Server
	url     string
	ftp     *ftpd.Server
	ftpAddr string
	files   string
	admin   string
	auditor string
	client  *http.Client
	outbox  *notify.Outbox // the FTP server's upload hook; no notifier runs
	mail    *mailbox.Store
	guard   *bans.Guard
}

type harnessOpts struct {
	maxBody  int64
	envToken string
	banAfter int  // failed logins that ban an address; 0 never bans
	bare     bool // the API without Outbox, Bans and Mail (their routes answer 503)
	identity *mailsec.Identity
}

func testLogger() *slog.Logger {
	if os.Getenv("FERRY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newHarness(t *testing.T, b storetest.Backend, o harnessOpts) *harness {
	t.Helper()
	return newHarnessOn(t, storetest.Open(t, b), o)
}

// newHarnessOn is newHarness on a store already open (storetest.Each).
func newHarnessOn(t *testing.T, st *store.Store, o harnessOpts) *harness {
	t.Helper()
	specValidator(t)
	files := filepath.Join(t.TempDir(), "files")
	svc := &partners.Service{Store: st, FilesDir: files, Hash: password.Params{Memory: 1024, Time: 1, Threads: 1}}
	h := &harness{t: t, st: st, svc: svc, files: files}
	// The node's audit counters, as serve wires them.
	audit := metrics.NewAudit()
	st.CountAuditWith(audit)

	h.guard = &bans.Guard{Store: st, MaxFailures: o.banAfter, Window: time.Hour, BanTime: time.Hour, Logger: testLogger()}
	h.outbox = &notify.Outbox{Store: st, Domain: "ferry.test"}
	h.mail = &mailbox.Store{DB: st, Dir: filepath.Join(t.TempDir(), "mail"), Logger: testLogger()}

	h.ftp = &ftpd.Server{Auth: svc, FilesDir: files, Store: st, Banner: "Ferry test", IdleTimeout: time.Minute, Logger: testLogger(),
		Guard: h.guard, OnUpload: h.outbox.OnUpload}
	h.ftpAddr = testenv.Serve(t, h.ftp, ftpd.ErrServerClosed)

	h.api = &api.Server{
		Store: st, Partners: svc, Sessions: testSessions{h.ftp}, AdminToken: o.envToken,
		Logger: testLogger(), MaxBodyBytes: o.maxBody, Audit: audit,
	}
	if !o.bare {
		h.api.Outbox, h.api.Bans, h.api.Mail = h.outbox, h.guard, h.mail
	}
	h.api.Identity, h.api.MailSign = o.identity, "openpgp"
	h.url = "http://" + testenv.Serve(t, h.api, api.ErrServerClosed)

	ctx := context.Background()
	var err error
	if h.admin, _, err = adminauth.CreateToken(ctx, st, "test admin", adminauth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if h.auditor, _, err = adminauth.CreateToken(ctx, st, "test auditor", adminauth.RoleAuditor); err != nil {
		t.Fatal(err)
	}
	h.client = &http.Client{Timeout: 30 * time.Second, Transport: &validating{t: t, base: http.DefaultTransport.(*http.Transport).Clone()}}
	return h
}

// testSessions shows one FTP server to the API, as cmd/ferry does for all.
type testSessions struct{ srv *ftpd.Server }

func (s testSessions) Sessions() []api.SessionInfo {
	var out []api.SessionInfo
	for _, si := range s.srv.Sessions() {
		b := si.Bytes
		out = append(out, api.SessionInfo{
			ID: "ftp-" + strconv.FormatUint(uint64(si.ID), 10), Protocol: "ftp", RemoteAddr: si.RemoteAddr, TLS: si.TLS,
			Username: si.Username, AccountID: si.AccountID, PartnerSlug: si.PartnerSlug, StartedAt: si.Started,
			Transfers: si.Transfers, Current: si.Current, Bytes: &b,
		})
	}
	return out
}

func (s testSessions) Kick(id string) bool {
	n, err := strconv.ParseUint(strings.TrimPrefix(id, "ftp-"), 10, 32)
	return err == nil && strings.HasPrefix(id, "ftp-") && s.srv.Kick(uint32(n))
}

func (s testSessions) KickAccount(id string) int { return s.srv.KickAccount(id) }

// reply is one HTTP response, read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %d reply: %v\n%s", r.status, err, r.body)
	}
}

// problem decodes a problem reply.
func (r reply) problem(t *testing.T) problemDoc {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json\n%s", ct, r.body)
	}
	var p problemDoc
	r.decode(t, &p)
	if p.Status != r.status {
		t.Errorf("problem status %d in a %d reply", p.Status, r.status)
	}
	return p
}

type problemDoc struct {
	Type, Title, Detail, Instance string
	Status                        int
	Errors                        []partners.FieldError
}

func (p problemDoc) hasField(name string) bool {
	for _, f := range p.Errors {
		if f.Field == name {
			return true
		}
	}
	return false
}

// do sends a request. body is JSON-encoded unless it is a string (sent as
// it is, as application/json); hdr are header name/value pairs that may
// override Content-Type.
func (h *harness) do(method, path, token string, body any, hdr ...string) reply {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}
}

// want fails the test unless the reply has status.
func (r reply) want(t *testing.T, status int) reply {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d\n%s", r.status, status, r.body)
	}
	return r
}

// JSON shapes the tests read.
type partnerDoc struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Slug     string   `json:"slug"`
	Contacts []string `json:"contacts"`
	Quota    struct {
		Bytes     int64 `json:"bytes"`
		Files     int64 `json:"files"`
		UsedBytes int64 `json:"used_bytes"`
		UsedFiles int64 `json:"used_files"`
	} `json:"quota"`
	TLSRequired  bool      `json:"tls_required"`
	TOTPRequired bool      `json:"totp_required"`
	AllowedCIDRs []string  `json:"allowed_cidrs"`
	Enabled      bool      `json:"enabled"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

type accountDoc struct {
	ID          string     `json:"id"`
	PartnerID   string     `json:"partner_id"`
	Username    string     `json:"username"`
	HomeDir     string     `json:"home_dir"`
	Permissions []string   `json:"permissions"`
	TLSRequired bool       `json:"tls_required"`
	Enabled     bool       `json:"enabled"`
	LastLoginAt *time.Time `json:"last_login_at"`
	Password    string     `json:"password"`
}

type transferDoc struct {
	ID        string  `json:"id"`
	PartnerID *string `json:"partner_id"`
	AccountID *string `json:"account_id"`
	Username  string  `json:"username"`
	Operation string  `json:"operation"`
	Path      string  `json:"path"`
	Status    string  `json:"status"`
	Bytes     int64   `json:"bytes"`
	SHA256    string  `json:"sha256"`
}

type pageDoc[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// createPartner makes a partner through the API.
func (h *harness) createPartner(slug string) partnerDoc {
	h.t.Helper()
	var p partnerDoc
	h.do("POST", "/api/v1/partners", h.admin, map[string]any{"slug": slug}).want(h.t, http.StatusCreated).decode(h.t, &p)
	return p
}

// createAccount makes an account with ftpPassword through the API.
func (h *harness) createAccount(partner, username string) accountDoc {
	h.t.Helper()
	var a accountDoc
	h.do("POST", "/api/v1/partners/"+partner+"/accounts", h.admin,
		map[string]any{"username": username, "password": ftpPassword}).want(h.t, http.StatusCreated).decode(h.t, &a)
	return a
}

// dialFTP logs in over FTP (passive mode).
func (h *harness) dialFTP(user, pw string) (*ftp.ServerConn, error) {
	c, err := ftp.Dial(h.ftpAddr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, pw); err != nil {
		c.Quit()
		return nil, err
	}
	h.t.Cleanup(func() { _ = c.Quit() })
	return c, nil
}

// waitClosed waits until the server has closed an FTP session.
func waitClosed(t *testing.T, c *ftp.ServerConn) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		if c.NoOp() == nil {
			return errors.New("the FTP session is still open")
		}
		return nil
	})
}
