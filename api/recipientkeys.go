package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// recipientKeyJSON is a registered key as the API shows it: the public
// key itself, its fingerprint and expiry, and whether it is still usable.
type recipientKeyJSON struct {
	ID          string     `json:"id"`
	Email       string     `json:"email"`
	Kind        string     `json:"kind"`
	Fingerprint string     `json:"fingerprint"`
	ExpiresAt   *time.Time `json:"expires_at"`
	Expired     bool       `json:"expired"`
	PublicKey   string     `json:"public_key"`
	CreatedAt   time.Time  `json:"created_at"`
}

func recipientKeyView(k *store.RecipientKey, now time.Time) recipientKeyJSON {
	return recipientKeyJSON{ID: k.ID, Email: k.Email, Kind: k.Kind, Fingerprint: k.Fingerprint, ExpiresAt: utcPtr(k.ExpiresAt),
		Expired: k.ExpiresAt != nil && !now.Before(*k.ExpiresAt), PublicKey: k.PublicKey, CreatedAt: k.CreatedAt.UTC()}
}

func (s *Server) registry() *mailsec.Registry { return &mailsec.Registry{Store: s.Store} }

// addRecipientKey registers a contact's OpenPGP public key or S/MIME
// certificate. A key Ferry cannot use for that address is 422 with the
// reason (malformed, expired, revoked, another address, not for e-mail).
func (s *Server) addRecipientKey(c echo.Context) error {
	var in struct {
		Email   string `json:"email"`
		OpenPGP string `json:"openpgp"`
		SMIME   string `json:"smime"`
	}
	if err := s.decode(c, &in); err != nil {
		return err
	}
	kind, text := mailsec.KindOpenPGP, in.OpenPGP
	switch {
	case in.OpenPGP != "" && in.SMIME != "":
		return &partners.ValidationError{Fields: []partners.FieldError{{Field: "smime", Message: "give openpgp or smime, not both"}}}
	case in.SMIME != "":
		kind, text = mailsec.KindSMIME, in.SMIME
	case in.OpenPGP == "":
		return &partners.ValidationError{Fields: []partners.FieldError{{Field: "openpgp", Message: "give an armored OpenPGP public key (openpgp) or a PEM certificate (smime)"}}}
	}
	if strings.TrimSpace(in.Email) == "" {
		return &partners.ValidationError{Fields: []partners.FieldError{{Field: "email", Message: "is required"}}}
	}
	k, err := s.registry().Add(c.Request().Context(), kind, in.Email, text)
	var ke *mailsec.KeyError
	switch {
	case errors.As(err, &ke):
		field := kind
		if strings.Contains(ke.Reason, "e-mail address") {
			field = "email"
		}
		return newProblem(http.StatusUnprocessableEntity, ke.Reason, partners.FieldError{Field: field, Message: ke.Reason})
	case errors.Is(err, store.ErrConflict):
		return newProblem(http.StatusConflict, err.Error())
	case err != nil && k == nil:
		return err
	case err != nil:
		s.logger().Warn("recipient key added, but blocked alerts were not woken; they are checked again within a minute", "err", err)
	}
	setTarget(c, k.ID)
	v := recipientKeyView(k, time.Now())
	c.Response().Header().Set("ETag", etagOf(v))
	c.Response().Header().Set("Location", location("recipient-keys", k.ID))
	return writeJSON(c, http.StatusCreated, v)
}

// listRecipientKeys lists the registered keys, by address; ?email=
// narrows it to one address.
func (s *Server) listRecipientKeys(c echo.Context) error {
	q, err := queryParams(c, "email")
	if err != nil {
		return err
	}
	var emails []string
	if e := strings.TrimSpace(q.Get("email")); e != "" {
		emails = []string{e}
	}
	keys, err := s.registry().List(c.Request().Context(), emails)
	if err != nil {
		return err
	}
	out := struct {
		Items []recipientKeyJSON `json:"items"`
	}{Items: []recipientKeyJSON{}}
	now := time.Now()
	for i := range keys {
		out.Items = append(out.Items, recipientKeyView(&keys[i], now))
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *Server) getRecipientKey(c echo.Context) error {
	k, err := s.Store.RecipientKeyByID(c.Request().Context(), param(c, "id"))
	if errors.Is(err, store.ErrNotFound) {
		return newProblem(http.StatusNotFound, "no recipient key "+param(c, "id"))
	}
	if err != nil {
		return err
	}
	v := recipientKeyView(k, time.Now())
	c.Response().Header().Set("ETag", etagOf(v))
	return writeJSON(c, http.StatusOK, v)
}

func (s *Server) deleteRecipientKey(c echo.Context) error {
	id := param(c, "id")
	setTarget(c, id)
	err := s.registry().Delete(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return newProblem(http.StatusNotFound, "no recipient key "+id)
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
