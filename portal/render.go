package portal

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/ferryhq/ferry/partners"
)

// page is what every template sees.
type page struct {
	Title string
	User  *user
	Data  any
	Error string
	Mail  bool // the account reads the mailbox here
}

var funcs = template.FuncMap{
	"size": humanSize,
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") + " UTC" },
	"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"folders": func(f []folderView, csrf, viewAs string) map[string]any {
		return map[string]any{"Folders": f, "CSRF": csrf, "RO": viewAs != ""}
	},
}

func mustParsePages() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"signin", "files", "error", "mail", "message", "compose", "code", "account"} {
		out[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/"+name+".html"))
	}
	return out
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, u *user, status int, name, title string, data any) {
	var buf bytes.Buffer
	pg := &page{Title: title, User: u, Data: data}
	pg.Mail = u != nil && s.Mail != nil && u.Login.Perms.Has(partners.PermMail)
	if err := s.pages[name].Execute(&buf, pg); err != nil {
		s.logger().Error("render portal page", "page", name, "err", err)
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError shows err; an error that is no *httpError is logged and
// shown as a generic failure (no internal detail reaches the partner).
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, u *user, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		s.logger().Error("portal", "path", r.URL.Path, "err", err)
		he = &httpError{status: http.StatusInternalServerError, msg: "Something went wrong on our side; try again in a moment."}
	}
	if s.pages == nil {
		http.Error(w, he.msg, he.status)
		return
	}
	s.render(w, r, u, he.status, "error", "Sorry", he.msg)
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
