package web

// The audit log page.

import (
	"net/http"
	"net/url"
	"time"

	"github.com/ferryhq/ferry/store"
)

const transfersPerPage = 50

type transfersData struct {
	Filter   url.Values
	Items    []store.Transfer
	Next     string
	Ops      []string
	Partners map[string]string // ID -> slug
	Accounts map[string]string // ID -> partner slug, for links
}

func (s *Server) transfers(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	q := r.URL.Query()
	f := store.TransferFilter{Operation: q.Get("op"), Status: q.Get("status"), PathPrefix: q.Get("path"),
		Before: q.Get("before"), Limit: transfersPerPage + 1}
	d := transfersData{Filter: q, Ops: []string{store.OpLogin, store.OpUpload, store.OpDownload, store.OpDelete,
		store.OpRename, store.OpMkdir, store.OpRmdir}, Partners: map[string]string{}, Accounts: map[string]string{}}
	if v := q.Get("partner"); v != "" {
		pt, err := s.Partners.Partner(ctx, v)
		if err != nil {
			return err
		}
		f.PartnerID = pt.ID
		if v := q.Get("account"); v != "" {
			a, err := s.Partners.Account(ctx, pt.ID, v)
			if err != nil {
				return err
			}
			f.AccountID = a.ID
		}
	} else if v := q.Get("account"); v != "" {
		a, err := s.Store.AccountByUsername(ctx, v)
		if err != nil {
			return &httpError{status: http.StatusNotFound, msg: "There is no account " + v + "."}
		}
		f.AccountID = a.ID
	}
	for _, k := range []string{"since", "until"} {
		if v := q.Get(k); v != "" {
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				return badRequest("%s must be a date like 2026-01-31.", k)
			}
			if k == "since" {
				f.Since = t
			} else {
				f.Until = t.Add(24 * time.Hour)
			}
		}
	}
	items, err := s.Store.ListTransfers(ctx, f)
	if err != nil {
		return err
	}
	if len(items) > transfersPerPage {
		items = items[:transfersPerPage]
		d.Next = items[len(items)-1].ID
	}
	d.Items = items
	for _, t := range items {
		if t.PartnerID != nil && d.Partners[*t.PartnerID] == "" {
			if pt, err := s.Store.PartnerByID(ctx, *t.PartnerID); err == nil {
				d.Partners[pt.ID] = pt.Slug
			}
		}
	}
	s.renderPage(w, r, http.StatusOK, "transfers", &page{Title: "Transfers", User: p, Data: d})
	return nil
}
