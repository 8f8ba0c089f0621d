package files

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/vfs"
)

// committer publishes a tree's uploads in two phases: reserve quota and
// record "committing" (one transaction), rename into place, mark done with
// the upload hook (one transaction; with a started Rows writer, in its next
// batch, after the reply). A crash between the phases is repaired by
// Recover.
type committer struct{ t *Tree }

var _ vfs.Committer = committer{}

func (c committer) CommitUpload(ctx context.Context, u *vfs.Upload, publish func() error) error {
	t := c.t
	row := t.record(store.OpUpload, u.Name)
	row.Bytes, row.FileSize = u.Written, u.Size
	row.SHA256 = fmt.Sprintf("%x", u.SHA256)
	row.StartedAt = u.Started.UTC()
	row.DurationMS = time.Since(u.Started).Milliseconds()
	row.UsageBytes = u.Size - u.PrevSize
	if !u.Replaces {
		row.UsageFiles = 1
	}
	row.StagingPath = u.Staged
	if err := c.protect(ctx, u, row); err != nil {
		return err
	}
	st := t.svc.Store
	if st == nil {
		if err := publish(); err != nil {
			return err
		}
		hashLateLog(u, row, t.svc.logger())
		t.published(row)
		return nil
	}
	if err := t.waitUsage(ctx); err != nil {
		return fmt.Errorf("record upload: %w", err)
	}
	// A small upload is finished by the background writer in the order
	// of its publish (a big one after its hash): its usage may wait for
	// the finish when the partner has no quota (store.Transfer.DeferUsage).
	row.DeferUsage = t.svc.Rows != nil && u.Hash == nil
	if err := st.BeginUpload(ctx, row); err != nil {
		if errors.Is(err, store.ErrQuotaExceeded) {
			return fmt.Errorf("%w: partner %s", vfs.ErrQuotaExceeded, t.who.PartnerSlug)
		}
		return fmt.Errorf("record upload: %w", err)
	}
	if err := publish(); err != nil {
		if aerr := st.AbortUpload(context.WithoutCancel(ctx), row.ID, err.Error()); aerr != nil {
			t.svc.logger().Error("abort upload record", "id", row.ID, "err", aerr)
		}
		return fmt.Errorf("publish upload: %w", err)
	}
	t.published(row)
	if rows := t.svc.Rows; rows != nil {
		// Hashed if it is big, then marked done with its alert, in the
		// background writer's next batch: the client's 226 waits for
		// neither.
		if u.Hash != nil {
			log := t.svc.logger()
			rows.FinishAfter(row, time.Now(), func() { hashLateLog(u, row, log) }, uploadHook(t.svc.OnUpload, row))
		} else {
			rows.Finish(row, time.Now(), uploadHook(t.svc.OnUpload, row))
		}
		return nil
	}
	finished := time.Now()
	hashLateLog(u, row, t.svc.logger())
	err := st.FinishUpload(context.WithoutCancel(ctx), row.ID, finished, row.SHA256, uploadHook(t.svc.OnUpload, row))
	if err != nil {
		// The file is visible and its quota reserved; Recover finishes
		// the record later. The client still gets success.
		t.svc.logger().Error("finish upload record; recovery will complete it", "id", row.ID, "err", err)
	}
	return nil
}

// fileSHA256 is the hex SHA-256 of a file in root, "" if it cannot be
// read.
func fileSHA256(root *vfs.Root, name string) string {
	f, err := root.Open(name)
	if err != nil {
		return ""
	}
	defer f.Close()
	sum, err := vfs.SHA256(f)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%x", sum)
}

// hashLate fills row.SHA256 of an upload hashed after its publish
// (vfs.Upload.Hash), and releases its handle; it reports a failure.
func hashLate(u *vfs.Upload, row *store.Transfer) error {
	if u.Hash == nil {
		return nil
	}
	sum, err := u.Hash()
	if err != nil {
		return fmt.Errorf("hash upload %s: %w", row.Path, err)
	}
	u.SHA256, row.SHA256 = sum, fmt.Sprintf("%x", sum)
	return nil
}

// hashLateLog is hashLate for a published upload: a failure leaves the
// row without its SHA-256 (logged); the file is published all the same.
func hashLateLog(u *vfs.Upload, row *store.Transfer, log *slog.Logger) {
	if err := hashLate(u, row); err != nil {
		log.Error("upload published without its SHA-256", "id", row.ID, "err", err)
	}
}

func (t *Tree) published(row *store.Transfer) {
	if t.Published != nil {
		t.Published(row)
	}
}

func uploadHook(onUpload UploadHook, t *store.Transfer) func(tx *store.Store) error {
	if onUpload == nil {
		return nil
	}
	return func(tx *store.Store) error { return onUpload(context.Background(), tx, t) }
}

// Recover completes or rolls back uploads a crash left between the two
// publish phases, for every partner. Rows younger than minAge may belong to
// a publish that is running right now on this or another node, so they are
// left alone. It needs no front end: housekeeping runs it whether or not
// FTP is on. OnUpload runs for each upload it completes, as it would have
// at the end of the upload.
func (s *Service) Recover(ctx context.Context, minAge time.Duration) (finished, aborted int, err error) {
	if s.Store == nil {
		return 0, 0, nil
	}
	st := s.Store
	if _, err := st.AdoptCommitting(ctx, time.Now().Add(-minAge)); err != nil {
		return 0, 0, err
	}
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
				if root, rerr := vfs.OpenRoot(s.PartnerDir(p.Slug)); rerr == nil {
					// The staged data leaves its place only by the publish's
					// rename: a failed publish is marked failed before its
					// data moves to the resume slot. Whatever happened to the
					// name since (FTP answers 226 before the finish is
					// written, so a client may already have renamed or
					// deleted it) does not undo the publish.
					_, stagedErr := root.Stat(t.StagingPath)
					published = errors.Is(stagedErr, fs.ErrNotExist)
					if fi, err := root.Stat(t.Path); published && t.SHA256 == "" && err == nil && fi.Size() == t.FileSize {
						// Hashed after publish, and the crash came first.
						t.SHA256 = fileSHA256(root, t.Path)
					}
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
			if err := st.FinishUpload(ctx, t.ID, time.Now(), t.SHA256, uploadHook(s.OnUpload, t)); err != nil {
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

// Sweep deletes the interrupted uploads of a partner's tree older than
// maxAge and reports how many it deleted.
func (s *Service) Sweep(ctx context.Context, slug string, maxAge time.Duration) (int, error) {
	root, err := vfs.OpenRoot(s.PartnerDir(slug))
	if err != nil {
		return 0, nil // no tree yet: nothing to sweep
	}
	defer root.Close()
	return vfs.NewAtomic(ctx, root, nil).SweepStaging(maxAge)
}

// partnerLimits reads a partner's quota and usage for the early quota
// check of a tree's uploads. A partner without a quota is remembered as
// such for a moment, so that a burst of small uploads does not read the
// partner row before every file; with a quota, usage is read every time.
// (The check that counts happens when an upload is published.)
type partnerLimits struct {
	store     *store.Store
	rows      *store.AuditWriter // nil: usage changes are written at once
	partnerID string
	noQuota   recently
}

// noQuotaRecheck is how long a partner seen without a quota (or without
// file protection) is taken to have none: a quota an administrator sets
// reaches the early check of running sessions within this, and
// encrypt_uploads or verify_uploads their next publish.
const noQuotaRecheck = 2 * time.Second

// recently remembers that something was seen, for noQuotaRecheck.
type recently struct {
	mu    sync.Mutex
	until time.Time
}

func (r *recently) see() {
	r.mu.Lock()
	r.until = time.Now().Add(noQuotaRecheck)
	r.mu.Unlock()
}

func (r *recently) seen() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Now().Before(r.until)
}

func (l *partnerLimits) Limits(ctx context.Context) (vfs.Limits, error) {
	if l.none() {
		return vfs.Limits{}, nil
	}
	if err := l.wait(ctx); err != nil {
		return vfs.Limits{}, err
	}
	p, err := l.store.PartnerUsage(ctx, l.partnerID)
	if err != nil {
		return vfs.Limits{}, err
	}
	lim := vfs.Limits{MaxBytes: p.QuotaBytes, MaxFiles: p.QuotaFiles, UsedBytes: p.UsedBytes, UsedFiles: p.UsedFiles}
	if lim.MaxBytes <= 0 && lim.MaxFiles <= 0 {
		l.noQuota.see()
	}
	return lim, nil
}

// none reports whether the partner was seen without a quota a moment ago.
func (l *partnerLimits) none() bool { return l.noQuota.seen() }

// wait waits for the partner's usage changes still queued (see
// store.AuditWriter.WaitUsage).
func (l *partnerLimits) wait(ctx context.Context) error {
	if l.rows == nil {
		return nil
	}
	if err := l.rows.WaitUsage(ctx, l.partnerID); err != nil {
		return fmt.Errorf("wait for usage: %w", err)
	}
	return nil
}
