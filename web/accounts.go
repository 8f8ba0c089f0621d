package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

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

func atoiDefault(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

func urlPath(s string) string { return url.PathEscape(s) }

// passwordData is the page that shows a generated password, once.
type passwordData struct {
	Partner  *store.Partner
	Username string
	Password string
	Created  bool
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
			s.renderPage(w, r, http.StatusCreated, "password", &page{Title: "Account created", Nav: "partners", User: p,
				Data: passwordData{Partner: a.Partner, Username: a.Username, Password: pw, Created: true}})
			return nil
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
	d, err := s.partnerData(ctx, r.PathValue("slug"))
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
		d, derr := s.partnerData(ctx, r.PathValue("slug"))
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
	s.renderPage(w, r, http.StatusOK, "password", &page{Title: "New password", Nav: "partners", User: p,
		Data: passwordData{Partner: a.Partner, Username: a.Username, Password: pw}})
	return nil
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
