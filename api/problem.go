package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/expect"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// problem is an RFC 9457 problem details object. Handlers return it as
// their error; renderError writes it.
type problem struct {
	Type     string                `json:"type"`
	Title    string                `json:"title"`
	Status   int                   `json:"status"`
	Detail   string                `json:"detail,omitempty"`
	Instance string                `json:"instance,omitempty"`
	Errors   []partners.FieldError `json:"errors,omitempty"`
}

func (p *problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

func newProblem(status int, detail string, fields ...partners.FieldError) *problem {
	return &problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Errors: fields}
}

// notConfigured answers the routes of an optional part of the server
// (Server.Outbox, Bans, Mail) that this process was started without.
func notConfigured(part string) *problem {
	return newProblem(http.StatusServiceUnavailable, part+" are not configured on this server")
}

func badRequest(detail string, fields ...partners.FieldError) *problem {
	return newProblem(http.StatusBadRequest, detail, fields...)
}

// errKey keeps the error a request failed with for the request log.
const errKey = "ferry.err"

// toProblem maps an error of any layer to the reply. Unknown errors are
// 500s whose text stays in the log.
func toProblem(err error) *problem {
	var (
		p       *problem
		httpErr *echo.HTTPError
		invalid *partners.ValidationError
	)
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &invalid):
		fields := make([]partners.FieldError, len(invalid.Fields))
		for i, f := range invalid.Fields {
			fields[i] = partners.FieldError{Field: apiField(f.Field), Message: f.Message}
		}
		return newProblem(http.StatusUnprocessableEntity, "the request has invalid fields", fields...)
	case errors.Is(err, store.ErrNotFound), errors.Is(err, notify.ErrNotFound), errors.Is(err, expect.ErrNotFound),
		errors.Is(err, mailbox.ErrNoSuchFolder), errors.Is(err, mailbox.ErrNoSuchMessage),
		errors.Is(err, mailbox.ErrNoSuchMailbox):
		return newProblem(http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrConflict), errors.Is(err, partners.ErrHasFiles), errors.Is(err, notify.ErrNotDead):
		return newProblem(http.StatusConflict, err.Error())
	case errors.Is(err, notify.ErrInvalid), errors.Is(err, mailbox.ErrBadFolderName):
		return badRequest(err.Error())
	case errors.As(err, &httpErr):
		detail := ""
		if m, ok := httpErr.Message.(string); ok && m != http.StatusText(httpErr.Code) {
			detail = m
		}
		return newProblem(httpErr.Code, detail)
	}
	return newProblem(http.StatusInternalServerError, "internal error; the server log has the details")
}

// apiField names a field of the service layer as the API's JSON does.
func apiField(f string) string {
	switch f {
	case "quota_bytes":
		return "quota.bytes"
	case "quota_files":
		return "quota.files"
	case "mail_quota_bytes":
		return "mail_quota.bytes"
	}
	return f
}

// renderError writes err as a problem, unless a reply was already sent.
func (s *Server) renderError(c echo.Context, err error) {
	c.Set(errKey, err)
	if c.Response().Committed {
		return
	}
	p := *toProblem(err)
	p.Instance = c.Request().URL.Path
	body, _ := json.Marshal(p)
	c.Response().Header().Set("Content-Type", "application/problem+json")
	c.Response().WriteHeader(p.Status)
	_, _ = c.Response().Write(append(body, '\n'))
}

// writeJSON sends v as the reply.
func writeJSON(c echo.Context, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode reply: %w", err)
	}
	c.Response().Header().Set("Content-Type", "application/json")
	c.Response().WriteHeader(status)
	_, err = c.Response().Write(append(body, '\n'))
	return err
}

// bodyKey keeps the raw request body for the admin audit log.
const bodyKey = "ferry.body"

// decode reads one JSON object into v: application/json only, at most
// MaxBodyBytes, no unknown fields, nothing after it.
func (s *Server) decode(c echo.Context, v any) error {
	r := c.Request()
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && mt != "application/merge-patch+json") {
		return newProblem(http.StatusUnsupportedMediaType, "the request body must be application/json")
	}
	limit := s.maxBody()
	raw, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return newProblem(http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than %d bytes", limit))
		}
		return badRequest("the request body could not be read")
	}
	c.Set(bodyKey, raw)
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if dec.More() {
		return badRequest("the request body must hold one JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("the request body must hold one JSON object")
	}
	return nil
}

func jsonProblem(err error) *problem {
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return badRequest("the request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the request body is cut short")
	case errors.As(err, &syntax):
		return badRequest(fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, err))
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return badRequest("the request body must be a JSON object")
		}
		return badRequest("a field has the wrong type", partners.FieldError{
			Field: typeErr.Field, Message: "must be " + jsonType(typeErr.Type.Kind().String()) + ", not " + typeErr.Value,
		})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest("the request body has a field this API does not know", partners.FieldError{
			Field: name, Message: "unknown field",
		})
	}
	return badRequest("the request body is not valid JSON: " + err.Error())
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return "a number"
}

// queryParams returns the query string, refusing parameters this endpoint
// does not know and parameters given twice.
func queryParams(c echo.Context, known ...string) (url.Values, error) {
	q := c.QueryParams()
	var fields []partners.FieldError
	for name, vals := range q {
		ok := false
		for _, k := range known {
			ok = ok || k == name
		}
		switch {
		case !ok:
			fields = append(fields, partners.FieldError{Field: name, Message: "unknown query parameter (known: " + strings.Join(known, ", ") + ")"})
		case len(vals) > 1:
			fields = append(fields, partners.FieldError{Field: name, Message: "given more than once"})
		}
	}
	if len(fields) > 0 {
		slices.SortFunc(fields, func(a, b partners.FieldError) int { return strings.Compare(a.Field, b.Field) })
		return nil, badRequest("the query string has invalid parameters", fields...)
	}
	return q, nil
}

// param is a path parameter, percent-decoded (a username may arrive as
// alice%40acme).
func param(c echo.Context, name string) string {
	v := c.Param(name)
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}
