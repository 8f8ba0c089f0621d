package ftpd

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/vfs"
)

// UploadHook runs inside the transaction that marks an upload done, so
// whatever it writes (the notification outbox) commits with it or not at all.
type UploadHook func(ctx context.Context, tx *store.Store, t *store.Transfer) error

// committer publishes a session's uploads in two phases: reserve quota and
// record "committing", rename into place, mark done (with the hook). A crash
// between the phases is repaired by RecoverUploads.
type committer struct {
	srv  *Server
	sess *session
}

var _ vfs.Committer = (*committer)(nil)

func (c *committer) CommitUpload(ctx context.Context, u *vfs.Upload, publish func() error) error {
	l := c.sess.loginInfo()
	t := c.sess.record(store.OpUpload, u.Name)
	t.Bytes, t.FileSize = u.Written, u.Size
	t.SHA256 = fmt.Sprintf("%x", u.SHA256)
	t.StartedAt = u.Started.UTC()
	t.DurationMS = time.Since(u.Started).Milliseconds()
	t.UsageBytes = u.Size - u.PrevSize
	if !u.Replaces {
		t.UsageFiles = 1
	}
	t.StagingPath = u.Staged
	st := c.srv.Store
	if st == nil {
		if err := publish(); err != nil {
			return err
		}
		c.sess.logTransfer(c.srv, t)
		return nil
	}
	if err := st.BeginUpload(ctx, t); err != nil {
		if errors.Is(err, store.ErrQuotaExceeded) {
			return fmt.Errorf("%w: partner %s", vfs.ErrQuotaExceeded, l.PartnerSlug)
		}
		return fmt.Errorf("record upload: %w", err)
	}
	if err := publish(); err != nil {
		if aerr := st.AbortUpload(context.WithoutCancel(ctx), t.ID, err.Error()); aerr != nil {
			c.srv.logger().Error("abort upload record", "id", t.ID, "err", aerr)
		}
		return fmt.Errorf("publish upload: %w", err)
	}
	c.sess.logTransfer(c.srv, t)
	finished := time.Now()
	err := st.FinishUpload(context.WithoutCancel(ctx), t.ID, finished, c.srv.hook(t))
	if err != nil {
		// The file is visible and its quota reserved; RecoverUploads
		// finishes the record later. The client still gets success.
		c.srv.logger().Error("finish upload record; recovery will complete it", "id", t.ID, "err", err)
	}
	return nil
}

func (s *Server) hook(t *store.Transfer) func(tx *store.Store) error {
	return uploadHook(s.OnUpload, t)
}

func uploadHook(onUpload UploadHook, t *store.Transfer) func(tx *store.Store) error {
	if onUpload == nil {
		return nil
	}
	return func(tx *store.Store) error { return onUpload(context.Background(), tx, t) }
}

// record starts an audit row for this session.
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

// audit finishes a row and hands it to the server's audit writer (written
// in the background, batched with other sessions' rows); failures to write
// are logged, not fatal.
func (srv *Server) audit(t *store.Transfer, err error) {
	if srv.Store == nil {
		return
	}
	now := time.Now().UTC()
	t.FinishedAt = &now
	if t.DurationMS == 0 {
		t.DurationMS = now.Sub(t.StartedAt).Milliseconds()
	}
	t.Status = store.StatusOK
	if err != nil {
		t.Status, t.Error = store.StatusFailed, err.Error()
	}
	srv.mu.Lock()
	rows := srv.rows
	srv.mu.Unlock()
	if rows == nil {
		rows = &store.AuditWriter{Store: srv.Store, Logger: srv.logger()} // not started: writes at once
	}
	rows.Add(t)
}

// treePath maps a session path to the path in the partner's tree.
func treePath(home, name string) string { return path.Join("/", home, path.Clean("/"+name)) }

// RecoverUploads completes or rolls back uploads a crash left between the
// two commit phases. Rows younger than minAge may belong to a commit that
// is running right now on this or another node, so they are left alone.
func (s *Server) RecoverUploads(ctx context.Context, minAge time.Duration) (finished, aborted int, err error) {
	if s.Store == nil {
		return 0, 0, nil
	}
	return RecoverUploads(ctx, s.Store, s.FilesDir, s.OnUpload, minAge)
}

// RecoverUploads is Server.RecoverUploads without a server: housekeeping
// runs it whether or not FTP is on. filesDir holds the partners' trees;
// onUpload (may be nil) runs for each upload it completes, as it would have
// at the end of the upload.
func RecoverUploads(ctx context.Context, st *store.Store, filesDir string, onUpload UploadHook,
	minAge time.Duration) (finished, aborted int, err error) {
	rows, err := st.CommittingUploads(ctx)
	if err != nil {
		return 0, 0, err
	}
	for i := range rows {
		t := &rows[i]
		if id, perr := uuid.Parse(t.ID); perr == nil {
			sec, nsec := id.Time().UnixTime()
			if time.Since(time.Unix(sec, nsec)) < minAge {
				continue
			}
		}
		published := false
		if t.PartnerID != nil {
			if p, perr := st.PartnerByID(ctx, *t.PartnerID); perr == nil {
				if root, rerr := vfs.OpenRoot(filepath.Join(filesDir, p.Slug)); rerr == nil {
					fi, serr := root.Stat(t.Path)
					_, stagedErr := root.Stat(t.StagingPath)
					published = serr == nil && fi.Size() == t.FileSize && stagedErr != nil
					if !published && stagedErr == nil {
						// Keep the data for a resume, as a failed commit does.
						if err := root.Rename(t.StagingPath, vfs.PartialPath(t.Path)); err != nil {
							_ = root.Remove(t.StagingPath)
						}
					}
					root.Close()
				}
			}
		}
		if published {
			if err := st.FinishUpload(ctx, t.ID, time.Now(), uploadHook(onUpload, t)); err != nil {
				return finished, aborted, err
			}
			finished++
			continue
		}
		if err := st.AbortUpload(ctx, t.ID, "interrupted while publishing; recovered at start"); err != nil {
			return finished, aborted, err
		}
		aborted++
	}
	return finished, aborted, nil
}
