package web

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

const partnersPerPage = 50

type partnerListData struct {
	Query string
	Items []store.Partner
	After string // the slug this page starts after ("" on the first page)
	Next  string // the slug the next page starts after; "": none
}

// partnerList pages by slug (keyset): the last page costs what the first
// does.
func (s *Server) partnerList(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	after := r.URL.Query().Get("after")
	items, err := s.Store.ListPartners(r.Context(), store.PartnerFilter{Query: q, After: after, Limit: partnersPerPage + 1})
	if err != nil {
		return err
	}
	d := partnerListData{Query: q, After: after}
	if len(items) > partnersPerPage {
		items = items[:partnersPerPage]
		d.Next = items[len(items)-1].Slug
	}
	d.Items = items
	s.renderPage(w, r, http.StatusOK, "partners", &page{Title: "Partners", User: p, Data: d})
	return nil
}

// partnerForm is the partner form's values as typed.
type partnerForm struct {
	Slug, Name, Contacts, Quota, QuotaFiles, CIDRs string
	MailQuota                                      string
	TLSRequired, Enabled                           bool
	TOTPRequired                                   bool // the partner portal's second factor
	// hasMailQuota: the posted form had the mail quota field (a form
	// without it leaves the quota as it is).
	hasMailQuota bool
}

func formOf(p *store.Partner) partnerForm {
	return partnerForm{Slug: p.Slug, Name: p.Name, Contacts: strings.Join(p.ContactEmails(), "\n"),
		Quota: sizeInput(p.QuotaBytes), QuotaFiles: itoa(p.QuotaFiles), MailQuota: sizeInput(p.MailQuotaBytes),
		CIDRs: strings.ReplaceAll(p.AllowedCIDRs, ",", "\n"), TLSRequired: p.TLSRequired, Enabled: p.Enabled,
		TOTPRequired: p.TOTPRequired}
}

func readPartnerForm(r *http.Request) partnerForm {
	f := r.PostForm
	return partnerForm{Slug: f.Get("slug"), Name: f.Get("name"), Contacts: f.Get("contacts"), Quota: f.Get("quota_bytes"),
		QuotaFiles: f.Get("quota_files"), CIDRs: f.Get("allowed_cidrs"), TLSRequired: f.Get("tls_required") != "",
		Enabled: f.Get("enabled") != "", MailQuota: f.Get("mail_quota_bytes"), hasMailQuota: f.Has("mail_quota_bytes"),
		TOTPRequired: f.Get("totp_required") != ""}
}

// list splits a textarea on lines and commas.
func list(s string) []string {
	out := []string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// numbers reads the form's quota fields; their errors join the service's.
func (f partnerForm) numbers() (bytes, files, mail int64, fields map[string]string) {
	fields = map[string]string{}
	var err error
	if mail, err = parseSize(f.MailQuota); err != nil {
		fields["mail_quota_bytes"] = err.Error()
	}
	if bytes, err = parseSize(f.Quota); err != nil {
		fields["quota_bytes"] = err.Error()
	}
	if files, err = parseInt(f.QuotaFiles); err != nil {
		fields["quota_files"] = "must be a whole number (0: unlimited)"
	}
	return bytes, files, mail, fields
}

func (s *Server) partnerNew(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.Admin() {
		return errForbidden
	}
	s.renderPage(w, r, http.StatusOK, "partner_new", &page{Title: "New partner", Nav: "partners", User: p,
		Data: partnerForm{Enabled: true, Quota: "0", QuotaFiles: "0", MailQuota: "0"}})
	return nil
}

func (s *Server) partnerCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	f := readPartnerForm(r)
	qb, qf, mq, fields := f.numbers()
	if len(fields) == 0 {
		_, err := s.Partners.CreatePartner(r.Context(), partners.PartnerInput{Slug: f.Slug, Name: f.Name,
			Contacts: list(f.Contacts), QuotaBytes: qb, QuotaFiles: qf, MailQuotaBytes: mq, TLSRequired: f.TLSRequired,
			TOTPRequired: f.TOTPRequired,
			AllowedCIDRs: list(f.CIDRs), Enabled: f.Enabled})
		if err == nil {
			http.Redirect(w, r, "/partners/"+urlPath(strings.TrimSpace(f.Slug))+"?done=partner-created", http.StatusSeeOther)
			return nil
		}
		if fields = fieldErrors(err); fields == nil {
			if errors.Is(err, store.ErrConflict) {
				fields = map[string]string{"slug": "a partner with this slug exists already"}
			} else {
				return err
			}
		}
	}
	s.renderPage(w, r, http.StatusUnprocessableEntity, "partner_new", &page{Title: "New partner", Nav: "partners",
		User: p, Error: "Please correct the fields marked below.", Fields: fields, Data: f})
	return nil
}

type partnerData struct {
	Partner  *store.Partner
	Form     partnerForm
	Accounts []store.Account // one page, by username
	// AccountsAfter is the username the page starts after ("" on the first
	// page); AccountsNext the one the next page starts after ("": none).
	AccountsAfter, AccountsNext string
	Perms                       []string
	NewAcct                     accountForm
	Sessions                    int
	Mail                        bool
	Notify                      bool
	// Expected deliveries with their latest outcomes, the partner's week
	// strip, and the new-expectation form.
	Expects   []expectationRow
	Week      []dayOutcomes
	NewExpect expectForm
	// KeyEmails are the addresses the partner's alerts go to; Keys their
	// registered public keys.
	KeyEmails []string
	Keys      []store.RecipientKey
}

type accountForm struct {
	Username, HomeDir string
	Perms             []string
	TLSRequired       bool
}

// accountsPerPage is how many accounts the partner page shows at once.
const accountsPerPage = 50

// partnerData is the partner page's data with the page of accounts that
// starts after the username after.
func (s *Server) partnerData(ctx context.Context, slug, after string) (*partnerData, error) {
	pt, err := s.Partners.Partner(ctx, slug)
	if err != nil {
		return nil, err
	}
	accts, err := s.Store.AccountPage(ctx, pt.ID, after, accountsPerPage+1)
	if err != nil {
		return nil, err
	}
	next := ""
	if len(accts) > accountsPerPage {
		accts = accts[:accountsPerPage]
		next = accts[len(accts)-1].Username
	}
	d := &partnerData{Partner: pt, Form: formOf(pt), Accounts: accts, AccountsAfter: after, AccountsNext: next, Perms: partners.PermNames(),
		NewAcct: accountForm{HomeDir: "/", Perms: partners.PermNames()}, Mail: s.Mail != nil, Notify: s.Outbox != nil}
	if d.KeyEmails, d.Keys, err = s.partnerKeys(ctx, pt); err != nil {
		return nil, err
	}
	for _, si := range s.liveSessions() {
		if si.PartnerID == pt.ID || si.PartnerSlug == pt.Slug {
			d.Sessions++
		}
	}
	if d.Expects, err = s.expectationRows(ctx, pt.ID); err != nil {
		return nil, err
	}
	if d.Week, err = s.weekStrip(ctx, pt.ID); err != nil {
		return nil, err
	}
	d.NewExpect = expectForm{Count: "1", TimeZone: "UTC", Grace: "30m", Contacts: true}
	return d, nil
}

func (s *Server) partnerShow(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, err := s.partnerData(r.Context(), r.PathValue("slug"), r.URL.Query().Get("accounts_after"))
	if err != nil {
		return err
	}
	s.renderPage(w, r, http.StatusOK, "partner", &page{Title: d.Partner.Name, Nav: "partners", User: p, Data: d})
	return nil
}

func (s *Server) partnerUpdate(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	f := readPartnerForm(r)
	qb, qf, mq, fields := f.numbers()
	cur, err := s.Partners.Partner(ctx, r.PathValue("slug"))
	if err != nil {
		return err
	}
	if len(fields) == 0 {
		contacts, cidrs := list(f.Contacts), list(f.CIDRs)
		patch := partners.PartnerPatch{Name: &f.Name, Contacts: &contacts,
			QuotaBytes: &qb, QuotaFiles: &qf, TLSRequired: &f.TLSRequired, AllowedCIDRs: &cidrs, Enabled: &f.Enabled,
			TOTPRequired: &f.TOTPRequired}
		if f.hasMailQuota {
			patch.MailQuotaBytes = &mq
		}
		updated, err := s.Partners.UpdatePartner(ctx, cur.ID, patch, nil)
		if err == nil {
			if cur.Enabled && !updated.Enabled {
				s.kickPartner(ctx, updated.ID)
			}
			http.Redirect(w, r, "/partners/"+urlPath(updated.Slug)+"?done=partner-saved", http.StatusSeeOther)
			return nil
		}
		if fields = fieldErrors(err); fields == nil {
			return err
		}
	}
	d, err := s.partnerData(ctx, cur.ID, "")
	if err != nil {
		return err
	}
	f.Slug = cur.Slug
	d.Form = f
	s.renderPage(w, r, http.StatusUnprocessableEntity, "partner", &page{Title: d.Partner.Name, Nav: "partners", User: p,
		Error: "The partner was not saved: please correct the fields marked below.", Fields: fields, Data: d})
	return nil
}

func (s *Server) partnerEnabled(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	on := r.PostForm.Get("enabled") == "true"
	pt, err := s.Partners.SetPartnerEnabled(ctx, r.PathValue("slug"), on)
	if err != nil {
		return err
	}
	done := "partner-enabled"
	if !on {
		s.kickPartner(ctx, pt.ID)
		done = "partner-disabled"
	}
	http.Redirect(w, r, "/partners/"+urlPath(pt.Slug)+"?done="+done, http.StatusSeeOther)
	return nil
}

// kickPartner closes the live sessions of a disabled partner's accounts,
// as the API does.
func (s *Server) kickPartner(ctx context.Context, partnerID string) {
	if s.Sessions == nil {
		return
	}
	accts, err := s.Store.AccountsByPartner(ctx, partnerID)
	if err != nil {
		s.logger().Error("close sessions of disabled partner", "partner", partnerID, "err", err)
		return
	}
	for _, a := range accts {
		s.Sessions.KickAccount(a.ID)
	}
}

func (s *Server) partnerTestNotification(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.Outbox == nil {
		return &httpError{status: http.StatusNotFound, msg: "Notifications are not configured on this server."}
	}
	pt, err := s.Partners.Partner(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	if _, err := s.Outbox.SendTest(r.Context(), pt.ID); err != nil {
		return err
	}
	http.Redirect(w, r, "/notifications?partner="+urlQueryEscape(pt.Slug)+"&done=test-queued", http.StatusSeeOther)
	return nil
}
