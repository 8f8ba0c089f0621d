package portal

// The second factor (TOTP): an account can turn it on in its account
// page; a partner can demand it (ferry partner set --totp-required), and
// then an account without one sets it up at its next sign-in. A sign-in
// whose password was right waits in a pending session (10 minutes, good
// for nothing but the code page); the right code replaces it with a new
// session, so the pending cookie is worth nothing afterwards. Wrong codes
// count towards the address bans like wrong passwords.

import (
	"bytes"
	"encoding/base64"
	"errors"
	"html/template"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

const (
	pendingTOTP     = "totp"   // the account has a second factor: ask for its code
	pendingEnroll   = "enroll" // the partner demands one: set it up
	pendingLifetime = 10 * time.Minute
	totpIssuer      = "Ferry file exchange"
)

func pendingURL(kind string) string {
	if kind == pendingEnroll {
		return "/portal/signin/setup"
	}
	return "/portal/signin/code"
}

type codeData struct {
	Kind   string // pendingTOTP, pendingEnroll, or "on"/"off" on the account page
	Next   string
	CSRF   string
	Secret string       // a new secret to set up
	QR     template.URL // its QR code as a data: URL
	Error  string
	// On the account page.
	Enabled, Required bool
}

// newSecret makes a secret for u and its QR code.
func newSecret(d *codeData, username string) error {
	k, err := partners.NewTOTP(totpIssuer, username)
	if err != nil {
		return err
	}
	d.Secret = k.Secret()
	img, err := k.Image(220, 220)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()))
	return nil
}

// pendingPage shows the code page of a sign-in that waits for kind.
func (s *Server) pendingPage(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := s.session(w, r)
		if err != nil || u.pending != kind {
			http.Redirect(w, r, "/portal/signin", http.StatusSeeOther)
			return
		}
		d := codeData{Kind: kind, Next: safeNext(r.URL.Query().Get("next")), CSRF: u.CSRF()}
		if kind == pendingEnroll {
			if err := newSecret(&d, u.Login.Username); err != nil {
				s.renderError(w, r, nil, err)
				return
			}
		}
		s.render(w, r, nil, http.StatusOK, "code", "Second step", d)
	}
}

// secondFactor checks the code of a pending sign-in and completes it.
func (s *Server) secondFactor(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := s.session(w, r)
		if err != nil || u.pending != kind {
			http.Redirect(w, r, "/portal/signin", http.StatusSeeOther)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil || checkOrigin(r) != nil || !u.validCSRF(r.PostForm.Get("csrf")) {
			s.renderError(w, r, nil, errCSRF)
			return
		}
		ctx, ip := r.Context(), s.clientAddr(r)
		code := strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("code")), " ", "")
		d := codeData{Kind: kind, Next: safeNext(r.PostForm.Get("next")), CSRF: u.CSRF(), Secret: r.PostForm.Get("secret")}
		row := &store.Transfer{Protocol: protocol, Operation: store.OpLogin, RemoteAddr: s.clientIP(r), StartedAt: s.now().UTC(),
			Username: u.Login.Username, PartnerID: store.StrPtr(u.Login.PartnerID), AccountID: store.StrPtr(u.Login.AccountID)}
		switch kind {
		case pendingTOTP:
			var a *store.Account
			if a, err = s.Store.AccountByID(ctx, u.Login.AccountID); err == nil {
				err = s.Partners.CheckTOTP(ctx, a, code, s.now())
			}
		case pendingEnroll:
			err = s.Partners.SetTOTP(ctx, u.Login.AccountID, d.Secret, code, s.now())
		}
		if err != nil {
			if errors.Is(err, partners.ErrWrongCode) {
				if s.Guard != nil && ip.IsValid() {
					s.Guard.Failure(ctx, ip, protocol, u.Login.Username)
				}
				s.Files.Audit(row, &partners.AuthError{Reason: "wrong second-factor code"})
				d.Error = "That code is not right. Enter the 6 digits your authenticator app shows now."
				if kind == pendingEnroll && d.Secret != "" {
					d.QR = "" // the secret stays; type it in if the picture is gone
				}
				s.render(w, r, nil, http.StatusUnauthorized, "code", "Second step", d)
				return
			}
			s.renderError(w, r, nil, err)
			return
		}
		if s.Guard != nil && ip.IsValid() {
			s.Guard.Success(ctx, ip, u.Login.Username)
		}
		// A new session: the pending cookie ends here.
		if err := s.Store.DeletePortalSession(ctx, u.session); err != nil {
			s.renderError(w, r, nil, err)
			return
		}
		secret, exp, err := s.startSession(ctx, u.Login, "")
		if err != nil {
			s.renderError(w, r, nil, err)
			return
		}
		s.Files.Audit(row, nil)
		s.setCookie(w, r, sessionCookie, secret, exp)
		s.logger().Info("portal sign-in", "user", u.Login.Username, "partner", u.Login.PartnerSlug, "second_factor", true,
			"remote", s.clientIP(r))
		http.Redirect(w, r, d.Next, http.StatusSeeOther)
	}
}

// accountPage shows the second factor's state and turns it on or off.
func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, u *user) error {
	d := codeData{CSRF: u.CSRF(), Enabled: u.totp, Required: u.Partner.TOTPRequired}
	switch r.URL.Query().Get("done") {
	case "on":
		d.Kind = "on"
	case "off":
		d.Kind = "off"
	}
	if !u.totp {
		if err := newSecret(&d, u.Login.Username); err != nil {
			return err
		}
	}
	s.render(w, r, u, http.StatusOK, "account", "Your account", d)
	return nil
}

func (s *Server) accountTOTP(w http.ResponseWriter, r *http.Request, u *user) error {
	code := strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("code")), " ", "")
	d := codeData{CSRF: u.CSRF(), Enabled: u.totp, Required: u.Partner.TOTPRequired, Secret: r.PostForm.Get("secret")}
	var err error
	done := "on"
	switch {
	case r.PostForm.Get("action") == "off" && u.Partner.TOTPRequired:
		return badRequest("Your company requires the second step; it cannot be turned off.")
	case r.PostForm.Get("action") == "off":
		a, aerr := s.Store.AccountByID(r.Context(), u.Login.AccountID)
		if aerr != nil {
			return aerr
		}
		if err = s.Partners.CheckTOTP(r.Context(), a, code, s.now()); err == nil {
			err, done = s.Partners.SetTOTP(r.Context(), u.Login.AccountID, "", "", s.now()), "off"
		}
	default:
		err = s.Partners.SetTOTP(r.Context(), u.Login.AccountID, d.Secret, code, s.now())
	}
	if errors.Is(err, partners.ErrWrongCode) {
		if ip := s.clientAddr(r); s.Guard != nil && ip.IsValid() {
			s.Guard.Failure(r.Context(), ip, protocol, u.Login.Username)
		}
		d.Error = "That code is not right. Enter the 6 digits your authenticator app shows now."
		s.render(w, r, u, http.StatusBadRequest, "account", "Your account", d)
		return nil
	}
	if err != nil {
		return err
	}
	s.logger().Info("portal second factor changed", "user", u.Login.Username, "now", done, "remote", s.clientIP(r))
	http.Redirect(w, r, "/portal/account?done="+done, http.StatusSeeOther)
	return nil
}
