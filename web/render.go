package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// page is what every template sees.
type page struct {
	Title   string
	Nav     string // the section of the navigation to mark current
	User    *principal
	CSRF    string
	Flash   string
	Error   string            // a message for the whole page
	Fields  map[string]string // field errors, by form field name
	Data    any
	Version string
}

func (p *page) Admin() bool { return p.User.Admin() }

var funcs = template.FuncMap{
	"size": humanSize,
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"ptime": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04")
	},
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"since": func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
	"deref": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
	"derefn": func(n *int64) int64 {
		if n == nil {
			return 0
		}
		return *n
	},
	"join":  strings.Join,
	"lines": func(v []string) string { return strings.Join(v, "\n") },
	"pct":   pct,
	"q":     url.QueryEscape,
	"p":     url.PathEscape,
	"contains": func(list []string, s string) bool {
		for _, v := range list {
			if v == s {
				return true
			}
		}
		return false
	},
	"plural": plural,
	"add":    func(a, b int) int { return a + b },
	"splitc": func(s string) []string { return strings.Split(s, ",") },
	"list3":  func(a ...string) []string { return a },
	"pform": func(f partnerForm, errs map[string]string, isNew bool) partnerFormCtx {
		return partnerFormCtx{Form: f, Errors: errs, New: isNew}
	},
	"ptab": func(p *store.Partner, tab string) partnerTab { return partnerTab{P: p, Tab: tab} },
	"nextq": func(q url.Values, k, v string) string {
		c := url.Values{}
		for kk, vv := range q {
			c[kk] = vv
		}
		c.Set(k, v)
		c.Del("done")
		return c.Encode()
	},
}

type partnerFormCtx struct {
	Form   partnerForm
	Errors map[string]string
	New    bool
}

type partnerTab struct {
	P   *store.Partner
	Tab string
}

// plural is the form of a noun for a count n: one for exactly 1, many
// otherwise ("1 file", "0 files", "2 files"). The templates print the
// count themselves: {{.UsedFiles}} {{plural .UsedFiles "file" "files"}}.
// n is any integer type (len gives int, counts are int64).
func plural(n any, one, many string) string {
	var v int64
	switch x := n.(type) {
	case int:
		v = int64(x)
	case int64:
		v = x
	case int32:
		v = int64(x)
	case uint32:
		v = int64(x)
	case uint64:
		if x == 1 {
			v = 1
		}
	}
	if v == 1 {
		return one
	}
	return many
}

func pct(used, quota int64) int {
	if quota <= 0 {
		return 0
	}
	p := used * 100 / quota
	if p > 100 {
		p = 100
	}
	return int(p)
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// parseSize reads "0", "1500", "10G", "512 MiB", "2.5 GB" (binary units).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	m := sizeRE.FindStringSubmatch(strings.ToUpper(s))
	if m == nil {
		return 0, errors.New("write a size like 0 (unlimited), 500M or 10G")
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil || f < 0 {
		return 0, errors.New("write a size like 0 (unlimited), 500M or 10G")
	}
	mult := map[string]float64{"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[m[2]]
	return int64(f * mult), nil
}

var sizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:I?B)?$`)

// sizeInput shows a byte count in the form parseSize reads back.
func sizeInput(n int64) string {
	if n == 0 {
		return "0"
	}
	for _, u := range []struct {
		s string
		n int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}

func mustParsePages() map[string]*template.Template {
	names := []string{"login", "error", "dashboard", "partners", "partner_new", "partner", "files", "mailbox",
		"message", "transfers", "sessions", "notifications", "password", "webhooks", "mailsecurity"}
	out := map[string]*template.Template{}
	f := template.FuncMap{"sizeInput": sizeInput}
	for k, v := range funcs {
		f[k] = v
	}
	for _, n := range names {
		t := template.Must(template.New("layout.html").Funcs(f).ParseFS(templateFS, "templates/layout.html", "templates/"+n+".html"))
		out[n] = t
	}
	return out
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, p *principal, status int, name, title string, data any) {
	s.renderPage(w, r, status, name, &page{Title: title, User: p, Data: data})
}

func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, pg *page) {
	if pg.User != nil {
		pg.CSRF = s.csrf(pg.User)
	}
	if pg.Flash == "" {
		pg.Flash = flashes[r.URL.Query().Get("done")]
	}
	if pg.Nav == "" {
		pg.Nav = name
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout.html", pg); err != nil {
		s.logger().Error("render page", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// flashes are the messages a redirect after a change may show (by key,
// so that a link cannot put words in the page).
var flashes = map[string]string{
	"partner-created":     "Partner created.",
	"partner-saved":       "Partner saved.",
	"partner-enabled":     "Partner enabled.",
	"partner-disabled":    "Partner disabled; its live sessions were closed.",
	"account-saved":       "Account saved.",
	"account-enabled":     "Account enabled.",
	"account-disabled":    "Account disabled; its live sessions were closed.",
	"file-deleted":        "File deleted.",
	"file-renamed":        "Renamed.",
	"file-uploaded":       "File uploaded.",
	"folder-created":      "Folder created.",
	"kicked":              "Session closed.",
	"retried":             "Notification queued again.",
	"delivery-retried":    "Webhook delivery queued again.",
	"expectation-created": "Expectation saved.",
	"expectation-deleted": "Expectation deleted.",
	"expectation-saved":   "Expectation saved.",
	"test-queued":         "Test notification queued.",
	"key-added":           "Key added.",
	"key-deleted":         "Key deleted.",
}

// statusOf maps an error of the service layer to an HTTP status and a
// message for the page.
func statusOf(err error) (int, string) {
	var he *httpError
	var invalid *partners.ValidationError
	switch {
	case errors.As(err, &he):
		return he.status, he.msg
	case errors.As(err, &invalid):
		return http.StatusUnprocessableEntity, "Please correct the fields marked below."
	case errors.Is(err, store.ErrNotFound), errors.Is(err, notify.ErrNotFound),
		errors.Is(err, mailbox.ErrNoSuchFolder), errors.Is(err, mailbox.ErrNoSuchMessage), errors.Is(err, mailbox.ErrNoSuchMailbox):
		return http.StatusNotFound, capitalize(err.Error()) + "."
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, capitalize(err.Error()) + "."
	case errors.Is(err, notify.ErrNotDead), errors.Is(err, partners.ErrHasFiles):
		return http.StatusConflict, capitalize(err.Error()) + "."
	case errors.Is(err, notify.ErrInvalid):
		return http.StatusBadRequest, capitalize(err.Error()) + "."
	}
	return http.StatusInternalServerError, "Something went wrong on the server; the details are in its log."
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// fieldErrors maps a validation error's fields ("contacts[2]") onto form
// field names ("contacts").
func fieldErrors(err error) map[string]string {
	var invalid *partners.ValidationError
	if !errors.As(err, &invalid) {
		return nil
	}
	out := map[string]string{}
	for _, f := range invalid.Fields {
		name := f.Field
		if i := strings.IndexByte(name, '['); i > 0 {
			name = name[:i]
		}
		if out[name] != "" {
			out[name] += "; "
		}
		out[name] += f.Message
	}
	return out
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, p *principal, err error) {
	status, msg := statusOf(err)
	if status >= 500 {
		s.logger().Error("web request", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if s.pages == nil {
		http.Error(w, msg, status)
		return
	}
	s.renderPage(w, r, status, "error", &page{Title: http.StatusText(status), User: p, Error: msg,
		Data: struct{ Status int }{status}})
}
