package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

type accountJSON struct {
	ID          string     `json:"id"`
	PartnerID   string     `json:"partner_id"`
	Username    string     `json:"username"`
	HomeDir     string     `json:"home_dir"`
	Permissions []string   `json:"permissions"`
	TLSRequired bool       `json:"tls_required"`
	Enabled     bool       `json:"enabled"`
	LastLoginAt *time.Time `json:"last_login_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// accountWithPassword is the reply that shows a generated password, once.
type accountWithPassword struct {
	accountJSON
	Password string `json:"password,omitempty"`
}

func accountView(a *store.Account) accountJSON {
	perms := []string{}
	for _, p := range strings.Split(a.Permissions, ",") {
		if p = strings.TrimSpace(p); p != "" {
			perms = append(perms, p)
		}
	}
	v := accountJSON{
		ID: a.ID, PartnerID: a.PartnerID, Username: a.Username, HomeDir: a.HomeDir, Permissions: perms,
		TLSRequired: a.TLSRequired, Enabled: a.Enabled, CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(),
	}
	if a.LastLoginAt != nil {
		t := a.LastLoginAt.UTC()
		v.LastLoginAt = &t
	}
	return v
}

type accountCreate struct {
	Username    string    `json:"username"`
	Password    *string   `json:"password"` // absent: generate one and return it
	HomeDir     string    `json:"home_dir"`
	Permissions *[]string `json:"permissions"` // absent: all
	TLSRequired bool      `json:"tls_required"`
	Enabled     *bool     `json:"enabled"` // default true
}

type accountUpdate struct {
	Username         *string   `json:"username"`
	Password         *string   `json:"password"`
	GeneratePassword bool      `json:"generate_password"`
	HomeDir          *string   `json:"home_dir"`
	Permissions      *[]string `json:"permissions"`
	TLSRequired      *bool     `json:"tls_required"`
	Enabled          *bool     `json:"enabled"`
}

// sendAccount replies with one account and its ETag; a generated password
// is shown in this reply only.
func sendAccount(c echo.Context, status int, a *store.Account, generated string) error {
	v := accountView(a)
	c.Response().Header().Set("ETag", etagOf(v))
	if status == http.StatusCreated {
		c.Response().Header().Set("Location", location("partners", a.PartnerID, "accounts", a.ID))
	}
	if generated != "" {
		c.Response().Header().Set("Cache-Control", "no-store")
	}
	return writeJSON(c, status, accountWithPassword{accountJSON: v, Password: generated})
}

func (s *Server) createAccount(c echo.Context) error {
	ctx := c.Request().Context()
	var in accountCreate
	if err := s.decode(c, &in); err != nil {
		return err
	}
	ain := partners.AccountInput{
		Partner: param(c, "id"), Username: in.Username, HomeDir: in.HomeDir,
		TLSRequired: in.TLSRequired, Disabled: in.Enabled != nil && !*in.Enabled,
	}
	var invalid partners.ValidationError
	if in.Password != nil {
		if *in.Password == "" {
			invalid.Fields = append(invalid.Fields, partners.FieldError{Field: "password", Message: "must not be empty; leave it out to have one generated"})
		}
		ain.Password = *in.Password
	}
	if in.Permissions != nil {
		perms, err := partners.PermissionNames(*in.Permissions)
		if err != nil {
			invalid.Fields = append(invalid.Fields, partners.FieldError{Field: "permissions", Message: err.Error()})
		}
		ain.Permissions = perms
	}
	if len(invalid.Fields) > 0 {
		return &invalid
	}
	a, generated, err := s.Partners.CreateAccount(ctx, ain)
	if a != nil {
		setTarget(c, a.ID)
	}
	if err != nil {
		return err
	}
	if a, err = s.Store.AccountByID(ctx, a.ID); err != nil {
		return err
	}
	return sendAccount(c, http.StatusCreated, a, generated)
}

// listAccounts pages through a partner's accounts by username (keyset:
// every page costs the same, however many accounts the partner has).
func (s *Server) listAccounts(c echo.Context) error {
	ctx := c.Request().Context()
	q, err := queryParams(c, "limit", "cursor")
	if err != nil {
		return err
	}
	limit, bad := pageLimit(q)
	if len(bad) > 0 {
		return badRequest("invalid query parameter", bad...)
	}
	cursor, bad := pageCursor(q, cursorUsername)
	if len(bad) > 0 {
		return badRequest("the query string has invalid parameters", bad...)
	}
	p, err := s.Partners.Partner(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	list, err := s.Store.AccountPage(ctx, p.ID, cursor, limit+1)
	if err != nil {
		return err
	}
	out := pageOf(list, limit, func(a *store.Account) string { return a.Username }, accountView)
	return writeJSON(c, http.StatusOK, out)
}

func (s *Server) getAccount(c echo.Context) error {
	a, err := s.Partners.Account(c.Request().Context(), param(c, "id"), param(c, "account"))
	if err != nil {
		return err
	}
	return sendAccount(c, http.StatusOK, a, "")
}

func (s *Server) updateAccount(c echo.Context) error {
	ctx := c.Request().Context()
	var in accountUpdate
	if err := s.decode(c, &in); err != nil {
		return err
	}
	a, err := s.Partners.Account(ctx, param(c, "id"), param(c, "account"))
	if err != nil {
		return err
	}
	setTarget(c, a.ID)
	var check func(*store.Account) error
	if match := ifMatch(c); match != nil {
		check = func(cur *store.Account) error { return match(accountView(cur)) }
	}
	a, generated, err := s.Partners.UpdateAccount(ctx, a.ID, partners.AccountPatch{
		Username: in.Username, Password: in.Password, GeneratePassword: in.GeneratePassword,
		HomeDir: in.HomeDir, Permissions: in.Permissions, TLSRequired: in.TLSRequired, Enabled: in.Enabled,
	}, check)
	if err != nil {
		return err
	}
	if !a.Enabled {
		s.kickAccount(a.ID)
	}
	return sendAccount(c, http.StatusOK, a, generated)
}

func (s *Server) deleteAccount(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := queryParams(c); err != nil {
		return err
	}
	a, err := s.Partners.Account(ctx, param(c, "id"), param(c, "account"))
	if err != nil {
		return err
	}
	setTarget(c, a.ID)
	if match := ifMatch(c); match != nil {
		if err := match(accountView(a)); err != nil {
			return err
		}
	}
	if err := s.Partners.DeleteAccount(ctx, a.Username); err != nil {
		return err
	}
	s.kickAccount(a.ID)
	return c.NoContent(http.StatusNoContent)
}
