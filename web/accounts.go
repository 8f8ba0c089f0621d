package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func parseInt(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

func urlPath(s string) string { return url.PathEscape(s) }

// passwordData is the page that shows a generated password, once.
type passwordData struct {
	Partner  *store.Partner
	Username string
	Password string // "" once shown
	Created  bool
}

// A generated password goes from the POST that made it to the GET page
// that shows it (POST-redirect-GET, so that reloading the page does not
// create the account again or make yet another password) in a cookie:
// sealed with a key of the signed-in session, limited to that page's
// path and a few minutes, and cleared when the page is shown. Ferry
// itself keeps only the password's hash.
const shownCookie = "ferry_shown"

// shownFor is how long a password waits for its page.
const shownFor = 5 * time.Minute

type shownPassword struct {
	Password string `json:"password"`
	Created  bool   `json:"created"`
}

func passwordPage(slug, username string) string {
	return "/partners/" + urlPath(slug) + "/accounts/" + urlPath(username) + "/password"
}

// shownAEAD is the cipher of a session's shown passwords.
func shownAEAD(p *principal) (cipher.AEAD, error) {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte("ferry shown password v1\x00" + p.session))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// showPassword hands a generated password to its page and redirects there.
func (s *Server) showPassword(w http.ResponseWriter, r *http.Request, p *principal, a *store.Account, pw string, created bool) error {
	at := passwordPage(a.Partner.Slug, a.Username)
	aead, err := shownAEAD(p)
	if err != nil {
		return err
	}
	plain, err := json.Marshal(shownPassword{Password: pw, Created: created})
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := aead.Seal(nonce, nonce, plain, []byte(at))
	http.SetCookie(w, &http.Cookie{Name: shownCookie, Value: base64.RawURLEncoding.EncodeToString(sealed), Path: at,
		MaxAge: int(shownFor / time.Second), HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, at, http.StatusSeeOther)
	return nil
}

// accountPassword shows the password a create or a rotation just made,
// once; afterwards (a reload, another tab, another session) it says so.
func (s *Server) accountPassword(w http.ResponseWriter, r *http.Request, p *principal) error {
	a, err := s.account(r)
	if err != nil {
		return err
	}
	at := passwordPage(a.Partner.Slug, a.Username)
	d := passwordData{Partner: a.Partner, Username: a.Username}
	if c, err := r.Cookie(shownCookie); err == nil {
		http.SetCookie(w, &http.Cookie{Name: shownCookie, Path: at, MaxAge: -1, HttpOnly: true, Secure: s.secure(r),
			SameSite: http.SameSiteStrictMode})
		var sp shownPassword
		if raw, err := base64.RawURLEncoding.DecodeString(c.Value); err == nil {
			if aead, err := shownAEAD(p); err == nil && len(raw) > aead.NonceSize() {
				plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(at))
				if err == nil && json.Unmarshal(plain, &sp) == nil {
					d.Password, d.Created = sp.Password, sp.Created
				}
			}
		}
	}
	title := "Password of " + a.Username
	switch {
	case d.Created:
		title = "Account created"
	case d.Password != "":
		title = "New password"
	}
	s.renderPage(w, r, http.StatusOK, "password", &page{Title: title, Nav: "partners", User: p, Data: d})
	return nil
}

func (s *Server) accountCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	f := r.PostForm
	in := partners.AccountInput{Partner: r.PathValue("slug"), Username: f.Get("username"), HomeDir: f.Get("home_dir"),
		TLSRequired: f.Get("tls_required") != "", Permissions: strings.Join(f["perm"], ",")}
	var fields map[string]string
	if len(f["perm"]) == 0 {
		fields = map[string]string{"perm": "tick at least one permission"}
	} else {
		a, pw, err := s.Partners.CreateAccount(ctx, in)
		if err == nil {
			return s.showPassword(w, r, p, a, pw, true)
		}
		switch fields = fieldErrors(err); {
		case fields != nil:
			if v, ok := fields["permissions"]; ok {
				fields["perm"] = v
			}
		case errors.Is(err, store.ErrConflict):
			fields = map[string]string{"username": "this username is taken (usernames are unique across partners)"}
		default:
			return err
		}
	}
	d, err := s.partnerData(ctx, r.PathValue("slug"), "")
	if err != nil {
		return err
	}
	d.NewAcct = accountForm{Username: in.Username, HomeDir: in.HomeDir, Perms: f["perm"], TLSRequired: in.TLSRequired}
	s.renderPage(w, r, http.StatusUnprocessableEntity, "partner", &page{Title: d.Partner.Name, Nav: "partners", User: p,
		Error: "The account was not created: please correct the fields marked below.", Fields: fields, Data: d})
	return nil
}

// account finds the account named in the path, of the partner in the path.
func (s *Server) account(r *http.Request) (*store.Account, error) {
	return s.Partners.Account(r.Context(), r.PathValue("slug"), r.PathValue("account"))
}

func (s *Server) accountUpdate(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	a, err := s.account(r)
	if err != nil {
		return err
	}
	perms := r.PostForm["perm"]
	if perms == nil {
		perms = []string{}
	}
	home, tlsReq := r.PostForm.Get("home_dir"), r.PostForm.Get("tls_required") != ""
	_, _, err = s.Partners.UpdateAccount(ctx, a.ID, partners.AccountPatch{Permissions: &perms, HomeDir: &home, TLSRequired: &tlsReq}, nil)
	if err != nil {
		fields := fieldErrors(err)
		if fields == nil {
			return err
		}
		d, derr := s.partnerData(ctx, r.PathValue("slug"), "")
		if derr != nil {
			return derr
		}
		msgs := []string{}
		for k, v := range fields {
			msgs = append(msgs, k+": "+v)
		}
		s.renderPage(w, r, http.StatusUnprocessableEntity, "partner", &page{Title: d.Partner.Name, Nav: "partners", User: p,
			Error: "Account " + a.Username + " was not saved: " + strings.Join(msgs, "; "), Data: d})
		return nil
	}
	http.Redirect(w, r, "/partners/"+urlPath(r.PathValue("slug"))+"?done=account-saved#accounts", http.StatusSeeOther)
	return nil
}

func (s *Server) accountRotate(w http.ResponseWriter, r *http.Request, p *principal) error {
	a, err := s.account(r)
	if err != nil {
		return err
	}
	a, pw, err := s.Partners.UpdateAccount(r.Context(), a.ID, partners.AccountPatch{GeneratePassword: true}, nil)
	if err != nil {
		return err
	}
	return s.showPassword(w, r, p, a, pw, false)
}

func (s *Server) accountEnabled(w http.ResponseWriter, r *http.Request, p *principal) error {
	a, err := s.account(r)
	if err != nil {
		return err
	}
	on := r.PostForm.Get("enabled") == "true"
	if _, _, err := s.Partners.UpdateAccount(r.Context(), a.ID, partners.AccountPatch{Enabled: &on}, nil); err != nil {
		return err
	}
	done := "account-enabled"
	if !on {
		done = "account-disabled"
		if s.Sessions != nil {
			s.Sessions.KickAccount(a.ID)
		}
	}
	http.Redirect(w, r, "/partners/"+urlPath(r.PathValue("slug"))+"?done="+done+"#accounts", http.StatusSeeOther)
	return nil
}
