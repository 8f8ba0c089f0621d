package api

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/sessions"
	"github.com/ferryhq/ferry/store"
)

// SessionControl is what the API needs of the protocol servers: their live
// sessions, and a way to close them (package sessions; cmd/ferry adapts the
// FTP servers to it, so the API knows no protocol package).
type SessionControl = sessions.Control

// SessionInfo describes one live session.
type SessionInfo = sessions.Info

type sessionJSON struct {
	ID               string    `json:"id"`
	Protocol         string    `json:"protocol"`
	RemoteAddr       string    `json:"remote_addr"`
	TLS              bool      `json:"tls"`
	Username         *string   `json:"username"`
	AccountID        *string   `json:"account_id"`
	PartnerID        *string   `json:"partner_id"`
	PartnerSlug      *string   `json:"partner_slug"`
	StartedAt        time.Time `json:"started_at"`
	TransfersRunning int64     `json:"transfers_running"`
	CurrentTransfer  *string   `json:"current_transfer"`
	Bytes            *int64    `json:"bytes,omitempty"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// sessions lists the live sessions, completing account and partner IDs
// from the database where the server did not report them.
func (s *Server) sessions(ctx context.Context) ([]sessionJSON, error) {
	out := []sessionJSON{}
	if s.Sessions == nil {
		return out, nil
	}
	list := s.Sessions.Sessions()
	sort.Slice(list, func(i, j int) bool { return list[i].StartedAt.Before(list[j].StartedAt) })
	known := map[string]*store.Account{}
	for _, si := range list {
		if si.Username != "" && (si.AccountID == "" || si.PartnerID == "") {
			a, seen := known[si.Username]
			if !seen {
				var err error
				a, err = s.Store.AccountByUsername(ctx, si.Username)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return nil, err
				}
				known[si.Username] = a
			}
			if a != nil {
				si.AccountID, si.PartnerID = a.ID, a.PartnerID
				if si.PartnerSlug == "" && a.Partner != nil {
					si.PartnerSlug = a.Partner.Slug
				}
			}
		}
		v := sessionJSON{
			ID: si.ID, Protocol: si.Protocol, RemoteAddr: si.RemoteAddr, TLS: si.TLS,
			Username: optional(si.Username), AccountID: optional(si.AccountID), PartnerID: optional(si.PartnerID),
			PartnerSlug: optional(si.PartnerSlug), StartedAt: si.StartedAt.UTC(), TransfersRunning: si.Transfers,
			CurrentTransfer: optional(si.Current), Bytes: si.Bytes,
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Server) listSessions(c echo.Context) error {
	ctx := c.Request().Context()
	q, err := queryParams(c, "partner", "account")
	if err != nil {
		return err
	}
	all, err := s.sessions(ctx)
	if err != nil {
		return err
	}
	partner, account := q.Get("partner"), q.Get("account")
	out := struct {
		Items []sessionJSON `json:"items"`
	}{Items: []sessionJSON{}}
	for _, v := range all {
		if partner != "" && !matchesAny(partner, v.PartnerID, v.PartnerSlug) ||
			account != "" && !matchesAny(account, v.AccountID, v.Username) {
			continue
		}
		out.Items = append(out.Items, v)
	}
	return writeJSON(c, http.StatusOK, out)
}

func matchesAny(want string, have ...*string) bool {
	for _, h := range have {
		if h != nil && *h == want {
			return true
		}
	}
	return false
}

func (s *Server) kickSession(c echo.Context) error {
	id := param(c, "id")
	if s.Sessions == nil || !s.Sessions.Kick(id) {
		return newProblem(http.StatusNotFound, "no live session "+id)
	}
	return c.NoContent(http.StatusNoContent)
}
