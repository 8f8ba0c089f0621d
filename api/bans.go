package api

import (
	"errors"
	"net/http"
	"net/netip"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/partners"
)

// banJSON is one ban in force.
type banJSON struct {
	IP          string    `json:"ip"`
	Reason      string    `json:"reason"`
	Failures    int64     `json:"failures"`
	CreatedAt   time.Time `json:"created_at"`
	BannedUntil time.Time `json:"banned_until"`
}

// listBans lists the bans in force, newest first. They are few (each
// lasts FERRY_BAN_TIME), so the list is not paged.
func (s *Server) listBans(c echo.Context) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	if s.Bans == nil {
		return notConfigured("bans")
	}
	list, err := s.Bans.List(c.Request().Context())
	if err != nil {
		return err
	}
	out := struct {
		Items []banJSON `json:"items"`
	}{Items: []banJSON{}}
	for _, b := range list {
		out.Items = append(out.Items, banJSON{IP: b.IP, Reason: b.Reason, Failures: b.Failures,
			CreatedAt: b.CreatedAt.UTC(), BannedUntil: b.BannedUntil.UTC()})
	}
	return writeJSON(c, http.StatusOK, out)
}

// liftBan ends the ban on an address at once: 404 when it is not banned
// (an expired ban included), 400 when it is no IP address.
func (s *Server) liftBan(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := queryParams(c); err != nil {
		return err
	}
	if s.Bans == nil {
		return notConfigured("bans")
	}
	raw := param(c, "ip")
	ip, err := netip.ParseAddr(raw)
	if err != nil || ip.Zone() != "" {
		return badRequest("invalid path parameter", partners.FieldError{
			Field: "ip", Message: "must be an IPv4 or IPv6 address like 203.0.113.7 or 2001:db8::7",
		})
	}
	ip = ip.Unmap()
	setTarget(c, ip.String())
	err = s.Bans.Check(ctx, ip)
	if err == nil {
		return newProblem(http.StatusNotFound, ip.String()+" is not banned")
	}
	if !errors.Is(err, bans.ErrBanned) {
		return err
	}
	if err := s.Bans.Lift(ctx, ip); err != nil {
		return err // store.ErrNotFound (lifted meanwhile) is a 404
	}
	s.logger().Info("ban lifted", "ip", ip.String(), "token", principalOf(c).Name)
	return c.NoContent(http.StatusNoContent)
}
