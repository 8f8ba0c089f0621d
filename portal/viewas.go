package portal

// "View as": an administrator of the web admin looks at what an account
// sees in the portal (its files and its partner's mailbox), read-only:
// the same pages, under /portal/view-as/<username>/, with every control
// left out, nothing marked read, nothing downloaded. The portal does not
// know the web admin's sessions; cmd/ferry passes in ViewAs, the web
// admin's check of a request's administrator.

import (
	"errors"
	"net/http"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

var errNoViewAs = &httpError{status: http.StatusForbidden, msg: "Viewing an account's pages needs a signed-in administrator of the web admin."}

// viewAs serves h as the account in the path sees it, for an administrator.
func (s *Server) viewAs(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		admin, ok := "", false
		if s.ViewAs != nil {
			admin, ok = s.ViewAs(r)
		}
		if !ok {
			s.renderError(w, r, nil, errNoViewAs)
			return
		}
		a, err := s.Store.AccountByUsername(r.Context(), r.PathValue("account"))
		if errors.Is(err, store.ErrNotFound) {
			s.renderError(w, r, nil, errNotFound)
			return
		}
		if err != nil {
			s.renderError(w, r, nil, err)
			return
		}
		perms, err := partners.ParsePerm(a.Permissions)
		if err != nil {
			s.renderError(w, r, nil, err)
			return
		}
		u := &user{Partner: a.Partner, viewAs: admin, Login: &partners.Login{AccountID: a.ID, Username: a.Username,
			PartnerID: a.PartnerID, PartnerSlug: a.Partner.Slug, HomeDir: a.HomeDir, Perms: perms}}
		s.logger().Info("portal view as", "admin", admin, "account", a.Username, "path", r.URL.Path, "remote", s.clientIP(r))
		if err := h(w, r, u); err != nil {
			s.renderError(w, r, u, err)
		}
	})
}
