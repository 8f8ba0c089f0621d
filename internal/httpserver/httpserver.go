// Package httpserver is Ferry's one HTTP listener: a ServeMux that mounts
// the admin API (/api/, /healthz, /readyz, /metrics) and the web admin (every
// other path) side by side, served by a net/http.Server with Ferry's limits.
// The front ends do not know each other: cmd/ferry composes them here.
package httpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = http.ErrServerClosed

// Mux mounts api on the API's paths and web on every other one; a nil web
// leaves the other paths to the API (its 404).
func Mux(api, web http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	for _, p := range []string{"/api", "/api/", "/healthz", "/readyz", "/metrics"} {
		mux.Handle(p, api)
	}
	if web == nil {
		web = api
	}
	mux.Handle("/", web)
	return mux
}

// Server serves Handler on the listeners given to Serve until Shutdown,
// with the timeouts and header limit every Ferry HTTP listener has.
type Server struct {
	Handler http.Handler
	Logger  *slog.Logger
	// TLSConfig, if set, serves HTTPS with it (FERRY_HTTPS_ADDR: Ferry's
	// certificate); requests then carry r.TLS.
	TLSConfig *tls.Config

	mu     sync.Mutex
	srv    *http.Server
	closed bool
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Serve answers HTTP requests on ln until Shutdown. It always returns a
// non-nil error; after Shutdown it is ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	if s.srv != nil {
		s.mu.Unlock()
		return errors.New("httpserver: Serve called twice")
	}
	s.srv = &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn),
	}
	srv := s.srv
	s.mu.Unlock()
	if s.TLSConfig != nil {
		cfg := s.TLSConfig.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		ln = tls.NewListener(ln, cfg)
	}
	return srv.Serve(ln)
}

// Shutdown stops accepting connections and waits for running requests
// until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}
