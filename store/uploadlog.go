package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/internal/intentlog"
	"github.com/ferryhq/ferry/migrations"
)

// ErrUploadLogInUse is OpenUploadLog's error when another process has the
// upload log open.
var ErrUploadLogInUse = intentlog.ErrLocked

// uploadLogLimit is the size past which the upload log is rewritten with
// its open intents only.
const uploadLogLimit = 1 << 20

// uploadLog keeps, on SQLite, the intents of the uploads BeginUpload may
// leave unreserved (Transfer.DeferUsage, a partner without a quota) in an
// append-only file instead of upload_intents: one write(2) before the
// upload's 226 instead of a write transaction (66-96 µs of CPU on the
// 2-core development machine, the largest part of what Ferry adds
// between the end of a small upload's data and its 226; 2026-12-07). The
// audit writer's Finish writes the upload's row and usage as it writes
// any row, and marks the intent done after its transaction committed. The
// file outlives the process as the database's WAL does (neither is synced
// per transaction): OpenUploadLog, at the next start, moves the intents a
// dead process left into upload_intents, where recovery finds them as it
// finds any committing upload.
//
// While an intent is in the file its usage is in no counter and in no
// table: pending holds it, and a reservation against a quota set
// meanwhile counts it (addUsage), as it counts the unreserved intents of
// upload_intents. A logged upload is listed once its row is written
// (within the audit writer's linger), not as committing before.
type uploadLog struct {
	log *intentlog.Log

	mu      sync.Mutex
	pending map[string]usageDelta // partner ID: usage of its logged, unfinished uploads
	rows    map[string]*Transfer  // ID: a logged upload not finished yet
	// noQuota: partners read without a quota, until when that holds
	// while partners stays as it was then (see changeStamp).
	noQuota  map[string]time.Time
	partners stamp
}

// usageDelta is a change of a partner's usage counters.
type usageDelta struct{ bytes, files int64 }

// OpenUploadLog keeps the intents of small uploads of partners without a
// quota in the file at path (see uploadLog), SQLite only, for the one
// process that serves uploads: another process with the file open makes
// it fail with ErrUploadLogInUse, and that process's uploads keep their
// intents in the database. The intents a previous process left in the file are moved
// into upload_intents first (a partner or account deleted since is
// cleared from its intent, as the foreign keys would have), except those
// whose audit row is written already: it returns how many it moved, and
// how many it could not read (a file edited by hand) and dropped. It is
// called once, after Open and before the Store is used by anything else.
func (s *Store) OpenUploadLog(ctx context.Context, path string) (moved, unreadable int, err error) {
	if s.dialect != migrations.SQLite {
		return 0, 0, errors.New("store: the upload log is for SQLite")
	}
	if s.uploads != nil {
		return 0, 0, errors.New("store: the upload log is open already")
	}
	l, recs, err := intentlog.Open(path, uploadLogLimit)
	if err != nil {
		return 0, 0, err
	}
	if len(recs) > 0 {
		var intents []*Transfer
		ids := make([]string, len(recs))
		for i, r := range recs {
			ids[i] = r.ID
			t := &Transfer{}
			if err := json.Unmarshal(r.Data, t); err != nil || t.ID != r.ID {
				unreadable++
				continue
			}
			intents = append(intents, t)
		}
		err := s.Tx(ctx, func(tx *Store) error {
			moved = 0
			for _, t := range intents {
				n, err := tx.parkIntent(ctx, t)
				if err != nil {
					return fmt.Errorf("store: upload log: intent %s: %w", t.ID, err)
				}
				moved += int(n)
			}
			return nil
		})
		if err == nil {
			err = l.Done(ids...)
		}
		if err != nil {
			l.Close()
			return 0, 0, err
		}
	}
	if err := s.partners.reset(); err != nil {
		l.Close()
		return 0, 0, fmt.Errorf("store: upload log: %w", err)
	}
	s.uploads = &uploadLog{log: l, pending: map[string]usageDelta{}, rows: map[string]*Transfer{},
		noQuota: map[string]time.Time{}}
	return moved, unreadable, nil
}

// parkIntent writes a logged intent into upload_intents, committing and
// unreserved, unless its audit row or its intent is there already; it
// returns the rows it wrote.
func (s *Store) parkIntent(ctx context.Context, t *Transfer) (int64, error) {
	v := transferValues(t)
	v[13], v[19] = StatusCommitting, nil // status, finished_at
	n, err := s.exec(ctx, `INSERT INTO upload_intents (`+transferColumns+`, usage_reserved)
		SELECT ?, (SELECT id FROM partners WHERE id = ?), (SELECT id FROM accounts WHERE id = ?)`+
		strings.Repeat(", ?", len(v)-3)+`, FALSE
		WHERE NOT EXISTS (SELECT 1 FROM transfers WHERE id = ?) AND NOT EXISTS (SELECT 1 FROM upload_intents WHERE id = ?)`,
		append(v, t.ID, t.ID)...)
	return n, translate(err)
}

// logUpload is BeginUpload for an upload the log may take: it reports
// false when the partner has a quota (the caller reserves it in the
// database; DeferUsage is cleared) or the log refused the intent (the
// caller records it in the database instead).
func (s *Store) logUpload(ctx context.Context, t *Transfer) (bool, error) {
	u := s.uploads
	// Counted as pending before the quota is read: a reservation against
	// a quota set after the read counts it.
	u.add(t, 1)
	quota, err := s.logQuota(ctx, *t.PartnerID)
	if err != nil || quota.limited() {
		u.add(t, -1)
		if err == nil {
			// A quota to enforce: reserved at once, without reading it
			// again (reserving under a quota removed meanwhile is harmless).
			t.DeferUsage = false
		}
		return false, err
	}
	data, err := json.Marshal(t)
	if err == nil {
		err = u.log.Add(t.ID, data)
	}
	if err != nil {
		u.add(t, -1)
		return false, nil
	}
	u.mu.Lock()
	u.rows[t.ID] = t
	u.mu.Unlock()
	t.logged = true
	t.Reserved = &quota
	t.ApplyUsage = true
	return true, nil
}

// logQuota is the partner's quota for logUpload: none without reading
// the database when it was read without one a moment ago and no change of
// partners has been marked since (the stamp is taken before the read, so
// a change committed after it is seen by the next upload).
func (s *Store) logQuota(ctx context.Context, partnerID string) (Usage, error) {
	u, now := s.uploads, time.Now()
	st := s.partners.read()
	u.mu.Lock()
	if !st.same(u.partners) {
		u.partners = st
		clear(u.noQuota)
	}
	until, known := u.noQuota[partnerID]
	u.mu.Unlock()
	if known && now.Before(until) {
		return Usage{}, nil
	}
	q, err := s.partnerQuota(ctx, partnerID)
	if err == nil && !q.limited() {
		u.mu.Lock()
		if st.same(u.partners) {
			u.noQuota[partnerID] = now.Add(quotaRecheck)
		}
		u.mu.Unlock()
	}
	return q, err
}

// add counts t's usage as pending (d 1) or not any more (d -1).
func (u *uploadLog) add(t *Transfer, d int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.pending[*t.PartnerID]
	p.bytes += d * t.UsageBytes
	p.files += d * t.UsageFiles
	if p == (usageDelta{}) {
		delete(u.pending, *t.PartnerID)
	} else {
		u.pending[*t.PartnerID] = p
	}
}

// pendingOf is the usage of a partner's logged uploads not finished yet.
func (u *uploadLog) pendingOf(partnerID string) usageDelta {
	if u == nil {
		return usageDelta{}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.pending[partnerID]
}

// finished forgets logged uploads whose rows (with their usage, or as
// intents in upload_intents) the database holds now.
func (u *uploadLog) finished(rows []*Transfer) error {
	var ids []string
	for _, t := range rows {
		if !t.logged {
			continue
		}
		u.mu.Lock()
		_, ok := u.rows[t.ID]
		delete(u.rows, t.ID)
		u.mu.Unlock()
		if ok {
			u.add(t, -1)
			ids = append(ids, t.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return u.log.Done(ids...)
}

// logged returns the logged upload id, nil if there is none.
func (u *uploadLog) logged(id string) *Transfer {
	if u == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.rows[id]
}

// ParkLoggedUpload moves the intent of a logged upload whose finish
// failed into upload_intents, where recovery finishes it (as it does any
// upload whose finish failed); it reports false for a row that is not a
// logged upload's. Until then the intent stays in the log, for the next
// start.
func (s *Store) ParkLoggedUpload(ctx context.Context, t *Transfer) (bool, error) {
	if !t.logged || s.uploads.logged(t.ID) == nil {
		return false, nil
	}
	if err := s.write(ctx, func(tx *Store) error { _, err := tx.parkIntent(ctx, t); return err }); err != nil {
		return true, err
	}
	return true, s.uploads.finished([]*Transfer{t})
}

// abortLogged is AbortUpload for a logged upload: its failed row is
// written (its usage was never counted).
func (s *Store) abortLogged(ctx context.Context, t *Transfer, reason string) error {
	row := *t
	row.Status, row.Error = StatusFailed, reason
	now := time.Now().UTC()
	row.FinishedAt = &now
	row.ApplyUsage, row.logged, row.finish = false, false, nil
	if err := s.RecordTransfers(ctx, []*Transfer{&row}, nil); err != nil {
		return err
	}
	return s.uploads.finished([]*Transfer{t})
}

// closeUploadLog closes the log file (Store.Close); intents still open
// stay in it for the next start.
func (s *Store) closeUploadLog() error {
	if s.uploads == nil {
		return nil
	}
	return s.uploads.log.Close()
}
