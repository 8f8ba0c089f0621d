package api

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

type quotaJSON struct {
	Bytes     int64 `json:"bytes"`
	Files     int64 `json:"files"`
	UsedBytes int64 `json:"used_bytes"`
	UsedFiles int64 `json:"used_files"`
}

// mailQuotaJSON is a partner's mailbox quota and what its messages use.
type mailQuotaJSON struct {
	Bytes     int64 `json:"bytes"`
	UsedBytes int64 `json:"used_bytes"`
}

type partnerJSON struct {
	ID           string        `json:"id"`
	Name         string        `json:"name"`
	Slug         string        `json:"slug"`
	Contacts     []string      `json:"contacts"`
	Quota        quotaJSON     `json:"quota"`
	MailQuota    mailQuotaJSON `json:"mail_quota"`
	TLSRequired  bool          `json:"tls_required"`
	TOTPRequired bool          `json:"totp_required"`
	AllowedCIDRs []string      `json:"allowed_cidrs"`
	// EBCDICCodePage is the code page of FTP's TYPE E.
	EBCDICCodePage string    `json:"ebcdic_code_page"`
	Enabled        bool      `json:"enabled"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`

	// EncryptAlerts: optional or required (alerts wait for recipients' keys).
	EncryptAlerts string `json:"encrypt_alerts"`
	// EncryptUploads: addresses whose OpenPGP keys uploads are encrypted
	// to; VerifyUploads: detached signatures are checked.
	EncryptUploads []string `json:"encrypt_uploads"`
	VerifyUploads  bool     `json:"verify_uploads"`
}

func partnerView(p *store.Partner) partnerJSON {
	cidrs := []string{}
	for _, c := range strings.Split(p.AllowedCIDRs, ",") {
		if c = strings.TrimSpace(c); c != "" {
			cidrs = append(cidrs, c)
		}
	}
	return partnerJSON{
		ID: p.ID, Name: p.Name, Slug: p.Slug, Contacts: append([]string{}, p.ContactEmails()...),
		Quota:       quotaJSON{Bytes: p.QuotaBytes, Files: p.QuotaFiles, UsedBytes: p.UsedBytes, UsedFiles: p.UsedFiles},
		MailQuota:   mailQuotaJSON{Bytes: p.MailQuotaBytes, UsedBytes: p.MailUsedBytes},
		TLSRequired: p.TLSRequired, TOTPRequired: p.TOTPRequired, AllowedCIDRs: cidrs, Enabled: p.Enabled,
		EBCDICCodePage: cmp.Or(p.EBCDICCodePage, "IBM-1047"),
		CreatedAt:      p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(),
		EncryptAlerts:  cmp.Or(p.EncryptAlerts, store.EncryptAlertsOptional),
		EncryptUploads: listOf(p.EncryptUploads), VerifyUploads: p.VerifyUploads,
	}
}

// quotaInput is the writable part of a quota; usage is read-only.
type quotaInput struct {
	Bytes *int64 `json:"bytes"`
	Files *int64 `json:"files"`
}

// mailQuotaInput is the writable part of a mailbox quota.
type mailQuotaInput struct {
	Bytes *int64 `json:"bytes"`
}

type partnerCreate struct {
	Slug           string          `json:"slug"`
	Name           string          `json:"name"`
	Contacts       []string        `json:"contacts"`
	Quota          *quotaInput     `json:"quota"`
	MailQuota      *mailQuotaInput `json:"mail_quota"`
	TLSRequired    bool            `json:"tls_required"`
	TOTPRequired   bool            `json:"totp_required"`
	AllowedCIDRs   []string        `json:"allowed_cidrs"`
	EBCDICCodePage string          `json:"ebcdic_code_page"`
	EncryptAlerts  string          `json:"encrypt_alerts"`
	EncryptUploads []string        `json:"encrypt_uploads"`
	VerifyUploads  bool            `json:"verify_uploads"`
	Enabled        *bool           `json:"enabled"` // default true
}

type partnerUpdate struct {
	Slug           *string         `json:"slug"`
	Name           *string         `json:"name"`
	Contacts       *[]string       `json:"contacts"`
	Quota          *quotaInput     `json:"quota"`
	MailQuota      *mailQuotaInput `json:"mail_quota"`
	TLSRequired    *bool           `json:"tls_required"`
	TOTPRequired   *bool           `json:"totp_required"`
	AllowedCIDRs   *[]string       `json:"allowed_cidrs"`
	EBCDICCodePage *string         `json:"ebcdic_code_page"`
	EncryptAlerts  *string         `json:"encrypt_alerts"`
	EncryptUploads *[]string       `json:"encrypt_uploads"`
	VerifyUploads  *bool           `json:"verify_uploads"`
	Enabled        *bool           `json:"enabled"`
}

// sendPartner replies with one partner and its ETag.
func sendPartner(c echo.Context, status int, p *store.Partner) error {
	v := partnerView(p)
	c.Response().Header().Set("ETag", etagOf(v))
	if status == http.StatusCreated {
		c.Response().Header().Set("Location", location("partners", p.ID))
	}
	return writeJSON(c, status, v)
}

func (s *Server) createPartner(c echo.Context) error {
	var in partnerCreate
	if err := s.decode(c, &in); err != nil {
		return err
	}
	pin := partners.PartnerInput{
		Slug: in.Slug, Name: in.Name, Contacts: in.Contacts, TLSRequired: in.TLSRequired,
		AllowedCIDRs: in.AllowedCIDRs, Enabled: in.Enabled == nil || *in.Enabled, EBCDICCodePage: in.EBCDICCodePage,
		TOTPRequired:  in.TOTPRequired,
		EncryptAlerts: in.EncryptAlerts, EncryptUploads: in.EncryptUploads, VerifyUploads: in.VerifyUploads,
	}
	if in.Quota != nil {
		if in.Quota.Bytes != nil {
			pin.QuotaBytes = *in.Quota.Bytes
		}
		if in.Quota.Files != nil {
			pin.QuotaFiles = *in.Quota.Files
		}
	}
	if in.MailQuota != nil && in.MailQuota.Bytes != nil {
		pin.MailQuotaBytes = *in.MailQuota.Bytes
	}
	p, err := s.Partners.CreatePartner(c.Request().Context(), pin)
	if p != nil {
		setTarget(c, p.ID)
	}
	if err != nil {
		return err
	}
	// Read it back so that the reply (and its ETag) is what a GET returns.
	if p, err = s.Store.PartnerByID(c.Request().Context(), p.ID); err != nil {
		return err
	}
	return sendPartner(c, http.StatusCreated, p)
}

func (s *Server) listPartners(c echo.Context) error {
	q, err := queryParams(c, "q", "limit", "cursor")
	if err != nil {
		return err
	}
	limit, bad := pageLimit(q)
	if len(bad) > 0 {
		return badRequest("invalid query parameter", bad...)
	}
	cursor, bad := pageCursor(q, cursorSlug)
	if len(bad) > 0 {
		return badRequest("the query string has invalid parameters", bad...)
	}
	list, err := s.Store.ListPartners(c.Request().Context(), store.PartnerFilter{
		Query: q.Get("q"), After: cursor, Limit: limit + 1,
	})
	if err != nil {
		return err
	}
	out := pageOf(list, limit, func(p *store.Partner) string { return p.Slug }, partnerView)
	return writeJSON(c, http.StatusOK, out)
}

func (s *Server) getPartner(c echo.Context) error {
	p, err := s.Partners.Partner(c.Request().Context(), param(c, "id"))
	if err != nil {
		return err
	}
	return sendPartner(c, http.StatusOK, p)
}

func (s *Server) updatePartner(c echo.Context) error {
	ctx := c.Request().Context()
	var in partnerUpdate
	if err := s.decode(c, &in); err != nil {
		return err
	}
	patch := partners.PartnerPatch{
		Slug: in.Slug, Name: in.Name, Contacts: in.Contacts, TLSRequired: in.TLSRequired,
		AllowedCIDRs: in.AllowedCIDRs, Enabled: in.Enabled, EBCDICCodePage: in.EBCDICCodePage,
		TOTPRequired:  in.TOTPRequired,
		EncryptAlerts: in.EncryptAlerts, EncryptUploads: in.EncryptUploads, VerifyUploads: in.VerifyUploads,
	}
	if in.Quota != nil {
		patch.QuotaBytes, patch.QuotaFiles = in.Quota.Bytes, in.Quota.Files
	}
	if in.MailQuota != nil {
		patch.MailQuotaBytes = in.MailQuota.Bytes
	}
	var check func(*store.Partner) error
	if match := ifMatch(c); match != nil {
		check = func(cur *store.Partner) error { return match(partnerView(cur)) }
	}
	p, err := s.Partners.UpdatePartner(ctx, param(c, "id"), patch, check)
	if err != nil {
		return err
	}
	setTarget(c, p.ID)
	if !p.Enabled {
		s.kickPartner(ctx, p.ID)
	}
	return sendPartner(c, http.StatusOK, p)
}

func (s *Server) deletePartner(c echo.Context) error {
	ctx := c.Request().Context()
	q, err := queryParams(c, "purge")
	if err != nil {
		return err
	}
	purge := false
	if v := q.Get("purge"); v != "" {
		if purge, err = strconv.ParseBool(v); err != nil {
			return badRequest("invalid query parameter", partners.FieldError{Field: "purge", Message: "must be true or false"})
		}
	}
	p, err := s.Partners.Partner(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	setTarget(c, p.ID)
	if match := ifMatch(c); match != nil {
		if err := match(partnerView(p)); err != nil {
			return err
		}
	}
	accounts, err := s.Store.AccountsByPartner(ctx, p.ID)
	if err != nil {
		return err
	}
	if err := s.Partners.DeletePartner(ctx, p.ID, purge); err != nil {
		return err
	}
	for _, a := range accounts {
		s.kickAccount(a.ID)
	}
	return c.NoContent(http.StatusNoContent)
}

// kickPartner closes the live sessions of every account of a partner (it
// was disabled).
func (s *Server) kickPartner(ctx context.Context, partnerID string) {
	if s.Sessions == nil {
		return
	}
	accounts, err := s.Store.AccountsByPartner(ctx, partnerID)
	if err != nil {
		s.logger().Error("close sessions of disabled partner", "partner", partnerID, "err", err)
		return
	}
	for _, a := range accounts {
		s.kickAccount(a.ID)
	}
}

func (s *Server) kickAccount(accountID string) {
	if s.Sessions == nil {
		return
	}
	if n := s.Sessions.KickAccount(accountID); n > 0 {
		s.logger().Info("closed live sessions", "account", accountID, "sessions", n)
	}
}

// page is one page of a list; NextCursor continues it (null at the end).
type page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// pageOf is the page of a keyset list read with limit+1 rows: the first
// limit rows as view makes them, and when there was one more, the cursor
// of the last row shown (as cursor makes it) to ask for the next page.
func pageOf[R, T any](list []R, limit int, cursor func(*R) string, view func(*R) T) page[T] {
	out := page[T]{Items: []T{}}
	for i := range list {
		if i == limit {
			next := cursor(&list[i-1])
			out.NextCursor = &next
			break
		}
		out.Items = append(out.Items, view(&list[i]))
	}
	return out
}

// pageLimit reads the limit query parameter of every list (default
// DefaultPageSize); a bad one is a field error, as pageCursor gives, for the
// caller to report with the query's other errors.
func pageLimit(q map[string][]string) (int, []partners.FieldError) {
	vals := q["limit"]
	if len(vals) == 0 || vals[0] == "" {
		return DefaultPageSize, nil
	}
	n, err := strconv.Atoi(vals[0])
	if err != nil || n < 1 || n > MaxPageSize {
		return 0, []partners.FieldError{{
			Field: "limit", Message: "must be a whole number from 1 to " + strconv.Itoa(MaxPageSize),
		}}
	}
	return n, nil
}

// oneOf is the field error of a query parameter whose value is not one of
// allowed (none when it is, or is empty).
func oneOf(q url.Values, field string, allowed []string) []partners.FieldError {
	if v := q.Get(field); v != "" && !slices.Contains(allowed, v) {
		return []partners.FieldError{{Field: field, Message: "must be one of " + strings.Join(allowed, ", ")}}
	}
	return nil
}

// listOf splits a comma-separated column into a list ([] when empty).
func listOf(s string) []string {
	out := []string{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
