package web

// The notification outbox page: list and retry.

import (
	"net/http"

	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/store"
)

type notificationsData struct {
	Status   string
	Partner  string
	Items    []store.Notification
	Next     string
	Statuses []string
	Slugs    map[string]string
}

func (s *Server) notifications(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.Outbox == nil {
		return &httpError{status: http.StatusNotFound, msg: "Notifications are not configured on this server."}
	}
	ctx := r.Context()
	q := r.URL.Query()
	d := notificationsData{Status: q.Get("status"), Partner: q.Get("partner"), Slugs: map[string]string{},
		Statuses: []string{store.NotifyPending, store.NotifySending, store.NotifySent, store.NotifyDead, store.NotifyBlocked}}
	f := notify.Filter{Status: d.Status, Before: q.Get("before"), Limit: 50}
	if d.Partner != "" {
		pt, err := s.Partners.Partner(ctx, d.Partner)
		if err != nil {
			return err
		}
		f.PartnerID = pt.ID
	}
	items, next, err := s.Outbox.List(ctx, f)
	if err != nil {
		return err
	}
	d.Items, d.Next = items, next
	for _, n := range items {
		if d.Slugs[n.PartnerID] == "" {
			if pt, err := s.Store.PartnerByID(ctx, n.PartnerID); err == nil {
				d.Slugs[pt.ID] = pt.Slug
			}
		}
	}
	s.renderPage(w, r, http.StatusOK, "notifications", &page{Title: "Notifications", User: p, Data: d})
	return nil
}

func (s *Server) notificationRetry(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.Outbox == nil {
		return &httpError{status: http.StatusNotFound, msg: "Notifications are not configured on this server."}
	}
	if _, err := s.Outbox.Retry(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/notifications?done=retried", http.StatusSeeOther)
	return nil
}
