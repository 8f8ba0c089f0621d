package web

// The live protocol sessions page: list and kick.

import (
	"net/http"

	"github.com/ferryhq/ferry/sessions"
)

type sessionsData struct {
	Items []sessions.Info
}

func (s *Server) sessionList(w http.ResponseWriter, r *http.Request, p *principal) error {
	s.renderPage(w, r, http.StatusOK, "sessions", &page{Title: "Live sessions", User: p, Data: sessionsData{Items: s.liveSessions()}})
	return nil
}

func (s *Server) sessionKick(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	if s.Sessions == nil || !s.Sessions.Kick(id) {
		return &httpError{status: http.StatusNotFound, msg: "There is no live session " + id + " (it may have ended)."}
	}
	http.Redirect(w, r, "/sessions?done=kicked", http.StatusSeeOther)
	return nil
}
