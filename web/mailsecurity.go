package web

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// mailSecurity shows Ferry's own public keys (never the secret halves),
// for operators to hand to partners.
func (s *Server) mailSecurity(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.Identity == nil {
		return &httpError{status: http.StatusNotFound, msg: "Mail security keys are not configured on this server."}
	}
	sign := s.MailSign
	if sign == "" {
		sign = "smime"
	}
	s.render(w, r, p, http.StatusOK, "mailsecurity", "Mail security", struct {
		Email, Sign, OpenPGP, OpenPGPFingerprint, SMIME, SMIMEFingerprint, SMIMENotAfter string
	}{s.Identity.Email, sign, s.Identity.OpenPGPPublicKey(), s.Identity.OpenPGPFingerprint(), s.Identity.SMIMECertificate(),
		s.Identity.SMIMEFingerprint(), s.Identity.SMIMENotAfter().UTC().Format("2006-01-02")})
	return nil
}

// partnerKeys are the registered keys of the partner's contacts and
// internal subscribers: whom its alerts are encrypted to, and whose
// signatures its mail and files are checked against.
func (s *Server) partnerKeys(ctx context.Context, pt *store.Partner) ([]string, []store.RecipientKey, error) {
	emails := pt.ContactEmails()
	subs, err := s.Store.Subscribers(ctx, pt.ID)
	if err != nil {
		return nil, nil, err
	}
	for _, sub := range subs {
		emails = append(emails, sub.Email)
	}
	keys, err := (&mailsec.Registry{Store: s.Store}).List(ctx, emails)
	if emails == nil {
		emails = []string{}
	}
	return emails, keys, err
}

// keyAdd registers a key from the partner page; a refused key is shown
// with the reason (422).
func (s *Server) keyAdd(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	pt, err := s.Partners.Partner(ctx, r.PathValue("slug"))
	if err != nil {
		return err
	}
	text := r.PostForm.Get("key")
	kind := mailsec.KindOpenPGP
	if strings.Contains(text, "-----BEGIN CERTIFICATE-----") {
		kind = mailsec.KindSMIME
	}
	_, err = (&mailsec.Registry{Store: s.Store}).Add(ctx, kind, strings.TrimSpace(r.PostForm.Get("email")), text)
	var ke *mailsec.KeyError
	switch {
	case errors.As(err, &ke):
		return &httpError{status: http.StatusUnprocessableEntity, msg: "The key was not added: " + ke.Reason + "."}
	case errors.Is(err, store.ErrConflict):
		return err
	case err != nil:
		s.logger().Warn("key added; blocked alerts are checked again within a minute", "err", err)
	}
	http.Redirect(w, r, "/partners/"+urlPath(pt.Slug)+"?done=key-added#keys", http.StatusSeeOther)
	return nil
}

func (s *Server) keyDelete(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	pt, err := s.Partners.Partner(ctx, r.PathValue("slug"))
	if err != nil {
		return err
	}
	if err := (&mailsec.Registry{Store: s.Store}).Delete(ctx, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/partners/"+urlPath(pt.Slug)+"?done=key-deleted#keys", http.StatusSeeOther)
	return nil
}

// encryptAlerts sets whether the partner's alerts must be encrypted.
func (s *Server) encryptAlerts(w http.ResponseWriter, r *http.Request, p *principal) error {
	v := r.PostForm.Get("encrypt_alerts")
	pt, err := s.Partners.UpdatePartner(r.Context(), r.PathValue("slug"), partners.PartnerPatch{EncryptAlerts: &v}, nil)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/partners/"+urlPath(pt.Slug)+"?done=partner-saved#keys", http.StatusSeeOther)
	return nil
}

// uploadProtection sets the partner's encrypt_uploads (comma- or
// space-separated addresses) and verify_uploads.
func (s *Server) uploadProtection(w http.ResponseWriter, r *http.Request, p *principal) error {
	to := strings.FieldsFunc(r.PostForm.Get("encrypt_uploads"), func(c rune) bool { return c == ',' || c == ' ' || c == '\n' || c == '\r' })
	verify := r.PostForm.Get("verify_uploads") == "1"
	pt, err := s.Partners.UpdatePartner(r.Context(), r.PathValue("slug"),
		partners.PartnerPatch{EncryptUploads: &to, VerifyUploads: &verify}, nil)
	var invalid *partners.ValidationError
	if errors.As(err, &invalid) {
		return &httpError{status: http.StatusUnprocessableEntity, msg: "Not saved: " + invalid.Fields[0].Message + "."}
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/partners/"+urlPath(pt.Slug)+"?done=partner-saved#keys", http.StatusSeeOther)
	return nil
}
