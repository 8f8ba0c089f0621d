package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

type transferJSON struct {
	ID         string     `json:"id"`
	PartnerID  *string    `json:"partner_id"`
	AccountID  *string    `json:"account_id"`
	Username   string     `json:"username"`
	Protocol   string     `json:"protocol"`
	Operation  string     `json:"operation"`
	Path       string     `json:"path"`
	TargetPath string     `json:"target_path"`
	RemoteAddr string     `json:"remote_addr"`
	Bytes      int64      `json:"bytes"`
	FileSize   int64      `json:"file_size"`
	DurationMS int64      `json:"duration_ms"`
	SHA256     string     `json:"sha256"`
	Status     string     `json:"status"`
	Error      string     `json:"error"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`

	// Partner files (mailsec): the OpenPGP keys an upload was encrypted to
	// (file_size is the ciphertext's, sha256 the plaintext's) and the check
	// of its detached signature.
	EncryptedTo []string `json:"encrypted_to"`
	Signature   string   `json:"signature"`
	Signer      string   `json:"signer"`
}

func transferView(t *store.Transfer) transferJSON {
	v := transferJSON{
		ID: t.ID, PartnerID: t.PartnerID, AccountID: t.AccountID, Username: t.Username, Protocol: t.Protocol,
		Operation: t.Operation, Path: t.Path, TargetPath: t.TargetPath, RemoteAddr: t.RemoteAddr, Bytes: t.Bytes,
		FileSize: t.FileSize, DurationMS: t.DurationMS, SHA256: t.SHA256, Status: t.Status, Error: t.Error,
		StartedAt: t.StartedAt.UTC(), EncryptedTo: []string{}, Signature: t.Signature, Signer: t.Signer,
	}
	for _, f := range strings.Split(t.EncryptedTo, ",") {
		if f != "" {
			v.EncryptedTo = append(v.EncryptedTo, f)
		}
	}
	if t.FinishedAt != nil {
		f := t.FinishedAt.UTC()
		v.FinishedAt = &f
	}
	return v
}

// Operations and statuses a transfers filter accepts.
func operations() []string {
	return []string{store.OpLogin, store.OpUpload, store.OpDownload, store.OpDelete, store.OpRename, store.OpMkdir, store.OpRmdir}
}

func statuses() []string {
	return []string{store.StatusOK, store.StatusFailed, store.StatusCommitting}
}

func (s *Server) listTransfers(c echo.Context) error {
	ctx := c.Request().Context()
	q, err := queryParams(c, "partner", "account", "operation", "status", "since", "until", "path_prefix", "limit", "cursor")
	if err != nil {
		return err
	}
	var fields []partners.FieldError
	f := store.TransferFilter{PathPrefix: q.Get("path_prefix")}
	f.Before, fields = pageCursor(q, cursorID)
	f.Operation, f.Status = q.Get("operation"), q.Get("status")
	fields = append(fields, oneOf(q, "operation", operations())...)
	fields = append(fields, oneOf(q, "status", statuses())...)
	f.Since, f.Until, fields = timeRange(q, fields)
	limit, bad := pageLimit(q)
	fields = append(fields, bad...)
	if len(fields) > 0 {
		return badRequest("the query string has invalid parameters", fields...)
	}
	// partner and account take an ID or a slug / username.
	if v := q.Get("partner"); v != "" {
		f.PartnerID = v
		if p, err := s.Partners.Partner(ctx, v); err == nil {
			f.PartnerID = p.ID
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if v := q.Get("account"); v != "" {
		f.AccountID = v
		if a, err := s.Store.AccountByUsername(ctx, v); err == nil {
			f.AccountID = a.ID
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	f.Limit = limit + 1
	list, err := s.Store.ListTransfers(ctx, f)
	if err != nil {
		return err
	}
	out := pageOf(list, limit, func(t *store.Transfer) string { return t.ID }, transferView)
	return writeJSON(c, http.StatusOK, out)
}

// timeRange reads since and until (RFC 3339).
func timeRange(q url.Values, fields []partners.FieldError) (since, until time.Time, _ []partners.FieldError) {
	parse := func(name string) time.Time {
		v := q.Get(name)
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			fields = append(fields, partners.FieldError{Field: name, Message: "must be a time like 2025-01-31T23:59:00Z (RFC 3339)"})
		}
		return t
	}
	since, until = parse("since"), parse("until")
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		fields = append(fields, partners.FieldError{Field: "until", Message: "must be after since"})
	}
	return since, until, fields
}

func (s *Server) getTransfer(c echo.Context) error {
	t, err := s.Store.TransferByID(c.Request().Context(), param(c, "id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, transferView(t))
}

type adminAuditJSON struct {
	ID         string          `json:"id"`
	TokenID    string          `json:"token_id"`
	TokenName  string          `json:"token_name"`
	Role       string          `json:"role"`
	Method     string          `json:"method"`
	Path       string          `json:"path"`
	Action     string          `json:"action"`
	Target     string          `json:"target"`
	Status     int             `json:"status"`
	RemoteAddr string          `json:"remote_addr"`
	Detail     json.RawMessage `json:"detail"` // the call's query and body, secrets removed; null when it had none
	CreatedAt  time.Time       `json:"created_at"`
}

func (s *Server) listAdminAudit(c echo.Context) error {
	q, err := queryParams(c, "token", "action", "target", "since", "until", "limit", "cursor")
	if err != nil {
		return err
	}
	var fields []partners.FieldError
	f := store.AdminAuditFilter{TokenID: q.Get("token"), Action: q.Get("action"), Target: q.Get("target")}
	f.Before, fields = pageCursor(q, cursorID)
	f.Since, f.Until, fields = timeRange(q, fields)
	limit, bad := pageLimit(q)
	fields = append(fields, bad...)
	if len(fields) > 0 {
		return badRequest("the query string has invalid parameters", fields...)
	}
	f.Limit = limit + 1
	list, err := s.Store.ListAdminAudit(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := pageOf(list, limit, func(a *store.AdminAudit) string { return a.ID }, adminAuditView)
	return writeJSON(c, http.StatusOK, out)
}

func adminAuditView(a *store.AdminAudit) adminAuditJSON {
	detail := json.RawMessage("null")
	if a.Detail != "" && json.Valid([]byte(a.Detail)) {
		detail = json.RawMessage(a.Detail)
	}
	return adminAuditJSON{
		ID: a.ID, TokenID: a.TokenID, TokenName: a.TokenName, Role: a.Role, Method: a.Method, Path: a.Path,
		Action: a.Action, Target: a.Target, Status: a.Status, RemoteAddr: a.RemoteAddr, Detail: detail,
		CreatedAt: a.CreatedAt.UTC(),
	}
}
