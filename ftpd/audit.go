package ftpd

import (
	"context"
	"time"

	"github.com/ferryhq/ferry/files"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// The rules of a session's file operations (audit rows, quota, the
// two-phase publish, the upload hook) are the file core's (package files);
// what is here is the FTP edge of them: who the session is, its log lines.

// files is the file core as this server uses it: its rows go through the
// server's background audit writer once Serve started it.
func (s *Server) files() *files.Service {
	s.mu.Lock()
	rows := s.rows
	s.mu.Unlock()
	return &files.Service{Store: s.Store, FilesDir: s.FilesDir, OnUpload: s.OnUpload, OnFile: s.OnFile, NoSync: s.NoSync,
		Rows: rows, Logger: s.logger(), Keys: s.UploadKeys}
}

// principal is the session logged in as l, as the file core sees it.
func (s *session) principal(l *partners.Login) files.Principal {
	return files.Principal{PartnerID: l.PartnerID, PartnerSlug: l.PartnerSlug, AccountID: l.AccountID,
		Username: l.Username, ProtocolNow: s.protocol, RemoteAddr: s.cc.RemoteAddr().String(),
		HomeDir: l.HomeDir, Perms: l.Perms}
}

// record starts the audit row of a login.
func (s *session) record(op, name string) *store.Transfer {
	t := &store.Transfer{
		Protocol: s.protocol(), Operation: op, RemoteAddr: s.cc.RemoteAddr().String(),
		StartedAt: time.Now().UTC(), Path: name,
	}
	if l := s.loginInfo(); l != nil {
		t.PartnerID, t.AccountID, t.Username = store.StrPtr(l.PartnerID), store.StrPtr(l.AccountID), l.Username
	}
	return t
}

// logTransfer writes the server log's one line for a finished upload or
// download; the audit row holds the rest.
func (s *session) logTransfer(srv *Server, t *store.Transfer) {
	attrs := []any{"protocol", t.Protocol, "remote", t.RemoteAddr}
	if l := s.loginInfo(); l != nil {
		attrs = append(attrs, "partner", l.PartnerSlug, "account", l.Username)
	}
	d := time.Duration(t.DurationMS) * time.Millisecond
	if t.DurationMS == 0 {
		d = time.Since(t.StartedAt).Round(time.Millisecond)
	}
	attrs = append(attrs, "path", t.Path, "bytes", t.Bytes, "duration", d)
	srv.logger().Info(t.Operation+" finished", attrs...)
}

func (s *session) protocol() string {
	if s.controlTLS() {
		return "ftps"
	}
	return "ftp"
}

// audit writes the row of a login (file operations are written by the
// file core, through the same writer).
func (s *Server) audit(t *store.Transfer, err error) { s.files().Audit(t, err) }

// RecoverUploads completes or rolls back uploads a crash left between the
// two publish phases (files.Service.Recover with this server's settings).
func (s *Server) RecoverUploads(ctx context.Context, minAge time.Duration) (finished, aborted int, err error) {
	return s.files().Recover(ctx, minAge)
}
