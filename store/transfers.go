package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/ferryhq/ferry/migrations"
)

// Transfer is one row of the audit log: a login, an upload, a download or a
// change to the file tree, with its outcome.
type Transfer struct {
	ID          string
	PartnerID   *string
	AccountID   *string
	Username    string
	Protocol    string // ftp, ftps, imap, pop3, smtp
	Operation   string // see the Op constants
	Path        string
	TargetPath  string // rename target
	RemoteAddr  string
	Bytes       int64 // bytes moved by this operation
	FileSize    int64 // size of the file after an upload
	DurationMS  int64
	SHA256      string // hex, uploads
	Status      string // see the Status constants
	Error       string
	UsageBytes  int64  // quota usage this row added (uploads, deletes)
	UsageFiles  int64  // file count this row added
	StagingPath string // committing uploads: where the data waits
	StartedAt   time.Time
	FinishedAt  *time.Time

	// Partner files (mailsec): the OpenPGP keys (fingerprints) an upload
	// was encrypted to at publish (its SHA256 stays the plaintext's, its
	// FileSize is the ciphertext's), and the check of its detached
	// signature: "" (none), valid, invalid, unknown_key; Signer the key.
	EncryptedTo string
	Signature   string
	Signer      string

	// ApplyUsage makes RecordTransfers apply UsageBytes and UsageFiles to
	// the partner's counters in the transaction that writes the row (a
	// delete's refund, or the finish of an upload BeginUpload did not
	// reserve), instead of the caller before it. Not stored.
	ApplyUsage bool `gorm:"-"`
	// DeferUsage lets BeginUpload leave the usage of an upload whose
	// partner has no quota unreserved: nothing is enforced, so the partner
	// row is not written before the reply; the usage is added when the
	// upload is finished (BeginUpload sets ApplyUsage for an
	// AuditWriter's Finish; FinishUpload and recovery read it from the
	// intent). For a caller that finishes uploads in the order it began
	// them: a refund queued before the finish could not be taken from
	// counters that do not hold the upload yet. Not stored.
	DeferUsage bool `gorm:"-"`
	// Reserved is the partner's quota and usage right after BeginUpload
	// reserved this upload's, for the quota alerts' check when it is
	// finished (nil when not known: a row read back for recovery; only the
	// quota, none, for an upload left unreserved). Not stored.
	Reserved *Usage `gorm:"-"`

	// finish marks a row AuditWriter.Finish queued: a committing upload
	// to mark done (FinishUpload, with its extra), not a row to insert.
	// A pointer keeps Transfer comparable.
	finish *finishing
	// logged marks an upload whose intent BeginUpload wrote to the upload
	// log (OpenUploadLog), not to upload_intents: its finish inserts its
	// row.
	logged bool
}

type finishing struct{ extra func(tx *Store) error }

// markFinished makes t a committing upload's finish, done at finished,
// for recordTransfers to write (with extra in its transaction).
func (t *Transfer) markFinished(finished time.Time, extra func(tx *Store) error) {
	at := finished.UTC()
	t.finish, t.FinishedAt, t.Status = &finishing{extra: extra}, &at, StatusOK
}

// Operations in the audit log.
const (
	OpLogin    = "login"
	OpUpload   = "upload"
	OpDownload = "download"
	OpDelete   = "delete"
	OpRename   = "rename"
	OpMkdir    = "mkdir"
	OpRmdir    = "rmdir"
)

// Statuses in the audit log.
const (
	StatusOK         = "ok"
	StatusFailed     = "failed"
	StatusCommitting = "committing" // an upload between reservation and publication
)

// ErrQuotaExceeded is returned when an upload would pass the partner's quota.
var ErrQuotaExceeded = errors.New("quota exceeded")

// StrPtr returns nil for "" and a pointer otherwise (optional ids).
func StrPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// RecordTransfer appends a finished operation to the audit log.
func (s *Store) RecordTransfer(ctx context.Context, t *Transfer) error {
	t.fillDefaults(time.Now().UTC())
	if err := s.q(ctx).Create(t).Error; err != nil {
		return translate(err)
	}
	s.countAudit(t)
	return nil
}

// Finish completes a row at now with the outcome err (nil: ok): its end,
// its duration unless already set, its status and error text.
func (t *Transfer) Finish(now time.Time, err error) {
	t.FinishedAt = &now
	if t.DurationMS == 0 {
		t.DurationMS = now.Sub(t.StartedAt).Milliseconds()
	}
	t.Status, t.Error = StatusOK, ""
	if err != nil {
		t.Status, t.Error = StatusFailed, err.Error()
	}
}

// fillDefaults gives a new row its ID and, if unset, its start time.
func (t *Transfer) fillDefaults(now time.Time) {
	if t.ID == "" {
		t.ID = NewID()
	}
	if t.StartedAt.IsZero() {
		t.StartedAt = now
	}
}

// RecordTransfers appends finished operations to the audit log in one
// transaction (one statement per insertChunk rows), with the usage changes
// of the rows marked ApplyUsage, and then runs then (if not nil) in it. Rows an
// AuditWriter queued with Finish are committing uploads moved into the
// audit log, done, in the same transaction, as FinishUpload does.
func (s *Store) RecordTransfers(ctx context.Context, rows []*Transfer, then func(tx *Store) error) error {
	var all func(tx *Store, written []*Transfer) error
	if then != nil {
		all = func(tx *Store, _ []*Transfer) error { return then(tx) }
	}
	_, err := s.recordTransfers(ctx, rows, all, false)
	return err
}

// recordTransfers is RecordTransfers; then is given the rows written. With
// yield, the transaction ends early when another one waits for SQLite's
// single writer (an upload's reservation, whose 226 waits for it): once a
// row is written, it stops before the next upload finish (about a quarter
// of a millisecond each), and returns the finishes it left for another
// transaction. A batch of finishes made an upload that came while it ran
// wait for all of them.
func (s *Store) recordTransfers(ctx context.Context, rows []*Transfer, then func(tx *Store, written []*Transfer) error,
	yield bool) (rest []*Transfer, err error) {
	if len(rows) == 0 {
		return nil, nil
	}
	now := time.Now().UTC()
	inserts := make([]*Transfer, 0, len(rows))
	var logged []*Transfer
	for _, t := range rows {
		switch {
		case t.finish == nil:
			t.fillDefaults(now)
			inserts = append(inserts, t)
		case t.logged:
			// An upload whose intent is in the upload log: its row is
			// inserted done, without the staged name its intent keeps.
			row := *t
			row.StagingPath = ""
			inserts = append(inserts, &row)
			logged = append(logged, t)
		}
	}
	var written []*Transfer
	err = s.Tx(ctx, func(tx *Store) error {
		written, rest = append(written[:0], inserts...), nil
		if len(inserts) > 0 {
			if err := tx.insertTransfers(ctx, inserts); err != nil {
				return err
			}
		}
		for _, t := range logged {
			if t.finish.extra != nil {
				if err := t.finish.extra(tx); err != nil {
					return fmt.Errorf("store: finish upload %s: %w", t.ID, err)
				}
			}
		}
		for i, t := range rows {
			if t.finish == nil || t.logged {
				continue
			}
			if yield && len(written) > 0 && tx.othersWait() {
				for _, r := range rows[i:] {
					if r.finish != nil {
						rest = append(rest, r)
					}
				}
				break
			}
			if err := tx.finishUpload(ctx, t.ID, *t.FinishedAt, t.SHA256, t.finish.extra); err != nil {
				return fmt.Errorf("store: finish upload %s: %w", t.ID, err)
			}
			written = append(written, t)
		}
		// The rows written: the inserts and the finishes this transaction
		// got to (an upload's usage left unreserved is added here).
		if err := tx.applyUsage(ctx, written); err != nil {
			return err
		}
		if then != nil {
			return then(tx, written)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.uploads != nil {
		// Their rows are written: their intents are done. Should the log
		// not take the mark, the next start finds their rows and leaves
		// them be.
		_ = s.uploads.finished(logged)
	}
	s.countAudit(written...)
	return rest, nil
}

// applyUsage adds up the usage changes of the rows marked ApplyUsage and
// applies them, one update per partner.
func (s *Store) applyUsage(ctx context.Context, rows []*Transfer) error {
	var order []string
	sum := map[string]*usageDelta{}
	for _, t := range rows {
		if !t.ApplyUsage || t.PartnerID == nil || (t.UsageBytes == 0 && t.UsageFiles == 0) {
			continue
		}
		d := sum[*t.PartnerID]
		if d == nil {
			d = &usageDelta{}
			sum[*t.PartnerID] = d
			order = append(order, *t.PartnerID)
		}
		d.bytes += t.UsageBytes
		d.files += t.UsageFiles
	}
	for _, id := range order {
		if err := s.addUsage(ctx, id, sum[id].bytes, sum[id].files, false, nil); err != nil {
			return fmt.Errorf("store: usage of partner %s: %w", id, err)
		}
	}
	return nil
}

// TransferFilter selects audit rows, newest first.
type TransferFilter struct {
	PartnerID  string
	AccountID  string
	Operation  string
	Status     string
	Since      time.Time
	Until      time.Time
	PathPrefix string
	Before     string // cursor: the ID of the last row of the previous page
	Limit      int
}

// where applies every filter of f except the paging ones.
func (s *Store) where(q *gorm.DB, f TransferFilter) *gorm.DB {
	if f.PartnerID != "" {
		q = q.Where("partner_id = ?", f.PartnerID)
	}
	if f.AccountID != "" {
		q = q.Where("account_id = ?", f.AccountID)
	}
	if f.Operation != "" {
		q = q.Where("operation = ?", f.Operation)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if !f.Since.IsZero() {
		// IDs are UUIDv7, made when the row is written, never before the
		// operation started: the bound on id lets a newest-first page stop
		// at the first row older than since instead of scanning every older
		// row for one more match (the last page of a time range).
		q = q.Where("started_at >= ? AND id >= ?", f.Since.UTC(), IDFloor(f.Since.Add(-idClockSlack)))
	}
	if !f.Until.IsZero() {
		q = q.Where("started_at < ?", f.Until.UTC())
	}
	if f.PathPrefix != "" {
		q = q.Where("path LIKE ? ESCAPE '\\'", escapeLike(f.PathPrefix)+"%")
		if s.dialect == migrations.SQLite {
			// SQLite's LIKE ignores ASCII case and uses no index: the
			// same prefix as a range of the transfers_path index (and
			// case-sensitive, as on PostgreSQL). A path that continues
			// with U+10FFFF after the prefix falls outside the range.
			q = q.Where("path >= ? AND path < ?", f.PathPrefix, f.PathPrefix+"\U0010FFFF")
		}
	}
	return q
}

// idClockSlack allows for a clock that stepped back between an
// operation's start and its row's ID.
const idClockSlack = time.Minute

// IDFloor is the smallest ID (a UUIDv7 in text) NewID can make at t or
// later: every ID made at or after t sorts at or above it.
func IDFloor(t time.Time) string {
	ms := max(t.UnixMilli(), 0)
	h := fmt.Sprintf("%012x", ms)
	return h[:8] + "-" + h[8:] + "-0000-0000-000000000000"
}

// intentsTable holds the uploads between BeginUpload and their finish or
// abort (status committing); the audit log's listings and counts include
// them.
const intentsTable = "upload_intents"

// ListTransfers returns audit rows matching f, newest first, with the
// uploads being published (status committing) among them.
func (s *Store) ListTransfers(ctx context.Context, f TransferFilter) ([]Transfer, error) {
	switch f.Status {
	case StatusCommitting:
		return newestFirst[Transfer](s.where(s.q(ctx).Table(intentsTable), f), f.Before, f.Limit)
	case "":
		// The intents first: one finished meanwhile is then found in
		// transfers (and listed once), never in neither.
		pending, err := newestFirst[Transfer](s.where(s.q(ctx).Table(intentsTable), f), f.Before, f.Limit)
		if err != nil {
			return nil, err
		}
		rows, err := newestFirst[Transfer](s.where(s.q(ctx), f), f.Before, f.Limit)
		if err != nil || len(pending) == 0 {
			return rows, err
		}
		return mergeNewestFirst(rows, pending, f.Limit), nil
	default:
		return newestFirst[Transfer](s.where(s.q(ctx), f), f.Before, f.Limit)
	}
}

// mergeNewestFirst merges two lists sorted by ID, newest first, into the
// first limit rows (all if limit <= 0); a row in both is taken from rows.
func mergeNewestFirst(rows, pending []Transfer, limit int) []Transfer {
	out := make([]Transfer, 0, len(rows)+len(pending))
	for len(rows) > 0 || len(pending) > 0 {
		switch {
		case len(pending) == 0 || (len(rows) > 0 && rows[0].ID >= pending[0].ID):
			if len(pending) > 0 && pending[0].ID == rows[0].ID {
				pending = pending[1:]
			}
			out, rows = append(out, rows[0]), rows[1:]
		default:
			out, pending = append(out, pending[0]), pending[1:]
		}
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}

// TransferByID returns one audit row (or a committing upload).
func (s *Store) TransferByID(ctx context.Context, id string) (*Transfer, error) {
	var t Transfer
	err := s.q(ctx).Table(intentsTable).Where("id = ?", id).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		err = s.q(ctx).Where("id = ?", id).Take(&t).Error
	}
	if err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// BeginUpload is the first phase of publishing an upload: in one
// transaction it reserves the quota usage the upload adds (t.UsageBytes,
// t.UsageFiles; refused with ErrQuotaExceeded when over the partner's
// quota) and records t as committing, in upload_intents: listed with the
// audit log (ListTransfers, status committing) but not in its table, whose
// nine indexes made the reservation take twice as long (BenchmarkBeginUpload).
// With the upload log open (OpenUploadLog), an upload DeferUsage leaves
// unreserved is recorded there instead, without a transaction.
// The caller then makes the file visible and calls FinishUpload (which
// moves the row into the audit log), or AbortUpload if that failed. A
// crash in between leaves the row committing (CommittingUploads) for
// recovery.
func (s *Store) BeginUpload(ctx context.Context, t *Transfer) error {
	if t.ID == "" {
		t.ID = NewID()
	}
	t.Status = StatusCommitting
	if t.DeferUsage && s.uploads != nil && t.PartnerID != nil && (t.UsageBytes != 0 || t.UsageFiles != 0) {
		if ok, err := s.logUpload(ctx, t); ok || err != nil {
			return err
		}
	}
	var after *Usage
	reserved := true
	err := s.Tx(ctx, func(tx *Store) (err error) {
		after, reserved, err = tx.reserveUpload(ctx, t)
		return err
	})
	if err != nil {
		return err
	}
	t.Reserved = after
	t.ApplyUsage = !reserved
	return nil
}

// reserveUpload is BeginUpload's work in tx: it returns the partner's
// quota and usage after the reservation (nil without a partner), and
// whether the usage was reserved (see Transfer.DeferUsage).
func (s *Store) reserveUpload(ctx context.Context, t *Transfer) (after *Usage, reserved bool, err error) {
	reserved = true
	if t.PartnerID != nil {
		after = &Usage{}
		if t.DeferUsage && (t.UsageBytes != 0 || t.UsageFiles != 0) {
			// A read, not a write: the partner row (and its page in the
			// WAL) stays as it is when there is no quota to enforce.
			q, err := s.partnerQuota(ctx, *t.PartnerID)
			if err != nil {
				return nil, false, err
			}
			*after, reserved = q, q.limited()
		}
		if reserved {
			if err := s.addUsage(ctx, *t.PartnerID, t.UsageBytes, t.UsageFiles, true, after); err != nil {
				return nil, false, err
			}
		}
	}
	args := append(transferValues(t), reserved)
	if _, err := s.exec(ctx, `INSERT INTO upload_intents (`+transferColumns+`, usage_reserved)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
		return nil, false, translate(err)
	}
	return after, reserved, nil
}

// transferColumns are Transfer's stored columns, in the order of
// transferValues; transferRow is one row's placeholders.
const (
	transferColumns = `id, partner_id, account_id, username, protocol, operation, path, target_path, remote_addr,
		bytes, file_size, duration_ms, sha256, status, error, usage_bytes, usage_files, staging_path, started_at,
		finished_at, encrypted_to, signature, signer`
	transferRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

func transferValues(t *Transfer) []any {
	return []any{t.ID, t.PartnerID, t.AccountID, t.Username, t.Protocol, t.Operation, t.Path, t.TargetPath, t.RemoteAddr,
		t.Bytes, t.FileSize, t.DurationMS, t.SHA256, t.Status, t.Error, t.UsageBytes, t.UsageFiles, t.StagingPath, t.StartedAt,
		t.FinishedAt, t.EncryptedTo, t.Signature, t.Signer}
}

// insertChunk is the most rows one INSERT statement writes on SQLite,
// where statements of a power of two rows are prepared once (stmtCache).
// Statements of 16, 32, 64 and 128 rows cost the same a row within the
// noise (BenchmarkRecordTransfers, 2026-12-07); fewer sizes keep fewer
// statements prepared. Ferry's first driver matched each placeholder to
// its argument by a scan of the arguments (a statement cost the square of
// its placeholders); the one it uses now binds by position. PostgreSQL:
// fewer round trips win, 100 rows.
const (
	insertChunk         = 16
	insertChunkPostgres = 100
)

// insertTransfers writes audit rows with plain multi-row INSERTs, not
// gorm's reflection over the struct: the audit writer's batches are many.
func (s *Store) insertTransfers(ctx context.Context, rows []*Transfer) error {
	chunk := insertChunk
	if s.dialect == migrations.Postgres {
		chunk = insertChunkPostgres
	}
	for len(rows) > 0 {
		n := min(len(rows), chunk)
		if s.stmts != nil {
			// Statements of 16, 8, 4, 2 or 1 rows: five texts to keep
			// prepared on each connection, not one for every size.
			n = 1 << (bits.Len(uint(n)) - 1)
		}
		args := make([]any, 0, n*23)
		for _, t := range rows[:n] {
			args = append(args, transferValues(t)...)
		}
		q := "INSERT INTO transfers (" + transferColumns + ") VALUES " + transferRow + strings.Repeat(", "+transferRow, n-1)
		if _, err := s.exec(ctx, q, args...); err != nil {
			return translate(err)
		}
		rows = rows[n:]
	}
	return nil
}

// FinishUpload moves a committing upload into the audit log, done, with
// its SHA-256 when it was hashed after BeginUpload (sha256 not ""). extra
// runs in the same transaction (the notification outbox hooks in here).
func (s *Store) FinishUpload(ctx context.Context, id string, finished time.Time, sha256 string, extra func(tx *Store) error) error {
	if t := s.uploads.logged(id); t != nil {
		// Its intent is in the upload log: its row is written, as the
		// audit writer writes it.
		t.markFinished(finished, extra)
		if sha256 != "" {
			t.SHA256 = sha256
		}
		if _, err := s.recordTransfers(ctx, []*Transfer{t}, nil, false); err != nil {
			// Where recovery finds it, as a failed finish leaves any intent.
			if _, perr := s.ParkLoggedUpload(context.WithoutCancel(ctx), t); perr != nil {
				err = errors.Join(err, perr)
			}
			return err
		}
		return nil
	}
	var t Transfer
	err := s.Tx(ctx, func(tx *Store) error {
		u, err := tx.intentUsage(ctx, id)
		if err != nil {
			return err
		}
		if !u.reserved && u.partnerID != nil {
			if err := tx.addUsage(ctx, *u.partnerID, u.bytes, u.files, false, nil); err != nil {
				return err
			}
		}
		if err := tx.finishUpload(ctx, id, finished, sha256, extra); err != nil {
			return err
		}
		return translate(tx.q(ctx).Select("operation", "status", "bytes").Where("id = ?", id).Take(&t).Error)
	})
	if err != nil {
		return err
	}
	s.countAudit(&t)
	return nil
}

// finishUpload is FinishUpload's work in tx.
func (s *Store) finishUpload(ctx context.Context, id string, finished time.Time, sha256 string, extra func(tx *Store) error) error {
	if err := s.settleIntent(ctx, id, StatusOK, "", finished, sha256); err != nil {
		return err
	}
	if extra != nil {
		return extra(s)
	}
	return nil
}

// intentUsage is the usage a committing upload adds to its partner's
// counters, and whether BeginUpload reserved it already.
type intentUsage struct {
	partnerID    *string
	bytes, files int64
	reserved     bool
}

// intentUsage reads it for upload id (ErrNotFound if it is not committing).
func (s *Store) intentUsage(ctx context.Context, id string) (intentUsage, error) {
	var u intentUsage
	err := s.scanRow(ctx, `SELECT partner_id, usage_bytes, usage_files, usage_reserved FROM upload_intents WHERE id = ?`,
		[]any{id}, &u.partnerID, &u.bytes, &u.files, &u.reserved)
	if errors.Is(err, sql.ErrNoRows) {
		return u, ErrNotFound
	}
	return u, translate(err)
}

// settleIntent moves a committing upload from upload_intents into the
// audit log with its final status, error and finish time, in tx: plain
// statements, every upload runs them. An empty sha256 keeps the row's
// (hashed before publish). A finished upload's staging path is cleared;
// an aborted one keeps it. ErrNotFound if the upload is not committing
// (finished or aborted already).
func (s *Store) settleIntent(ctx context.Context, id, status, errText string, finished time.Time, sha256 string) error {
	n, err := s.exec(ctx, `INSERT INTO transfers (`+transferColumns+`)
		SELECT id, partner_id, account_id, username, protocol, operation, path, target_path, remote_addr,
			bytes, file_size, duration_ms, CASE WHEN ? = '' THEN sha256 ELSE ? END, ?, ?, usage_bytes, usage_files,
			CASE WHEN ? = '`+StatusOK+`' THEN '' ELSE staging_path END, started_at, ?, encrypted_to, signature, signer
		FROM upload_intents WHERE id = ?`,
		sha256, sha256, status, errText, status, finished.UTC(), id)
	if err != nil {
		return translate(err)
	}
	if n == 0 {
		return ErrNotFound
	}
	if _, err := s.exec(ctx, `DELETE FROM upload_intents WHERE id = ?`, id); err != nil {
		return translate(err)
	}
	return nil
}

// AbortUpload gives back the usage a committing upload reserved and moves
// it into the audit log, failed with reason.
func (s *Store) AbortUpload(ctx context.Context, id, reason string) error {
	if t := s.uploads.logged(id); t != nil {
		return s.abortLogged(ctx, t, reason)
	}
	var t Transfer
	err := s.Tx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Table(intentsTable).Where("id = ?", id).Take(&t).Error; err != nil {
			return translate(err)
		}
		u, err := tx.intentUsage(ctx, id)
		if err != nil {
			return err
		}
		if t.PartnerID != nil && u.reserved {
			if err := tx.addUsage(ctx, *t.PartnerID, -t.UsageBytes, -t.UsageFiles, false, nil); err != nil {
				return err
			}
		}
		t.Status = StatusFailed
		return tx.settleIntent(ctx, id, StatusFailed, reason, time.Now(), "")
	})
	if err != nil {
		return err
	}
	s.countAudit(&t)
	return nil
}

// AdoptCommitting moves into upload_intents the uploads a Ferry older than
// upload_intents left committing in transfers and recorded before cutoff
// (by their IDs, which are made when the row is written): a node of the
// previous version that crashed during an upgrade, after the migration
// moved the others. Recovery then finds them. It
// returns how many it moved; the partial index transfers_committing makes
// the usual answer, none, one index lookup.
func (s *Store) AdoptCommitting(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := s.Tx(ctx, func(tx *Store) error {
		floor := IDFloor(cutoff)
		res := tx.q(ctx).Exec(`INSERT INTO upload_intents (`+transferColumns+`)
			SELECT `+transferColumns+` FROM transfers WHERE status = '`+StatusCommitting+`' AND id < ?`, floor)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		res = tx.q(ctx).Exec(`DELETE FROM transfers WHERE status = '`+StatusCommitting+`' AND id < ?`, floor)
		n = res.RowsAffected
		return res.Error
	})
	return n, translate(err)
}

// CommittingUploads lists uploads between the two phases, oldest first.
func (s *Store) CommittingUploads(ctx context.Context) ([]Transfer, error) {
	var out []Transfer
	if err := s.q(ctx).Table(intentsTable).Order("id").Find(&out).Error; err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// AddUsage changes a partner's usage counters (deletes give space back).
// Counters never go below zero.
func (s *Store) AddUsage(ctx context.Context, partnerID string, dBytes, dFiles int64) error {
	return s.addUsage(ctx, partnerID, dBytes, dFiles, false, nil)
}

// addUsage changes the partner's counters by (dBytes, dFiles); with
// enforce, growth past a quota is refused (ErrQuotaExceeded). after, if
// not nil, gets the quota and usage the change left, from the same
// statement.
func (s *Store) addUsage(ctx context.Context, partnerID string, dBytes, dFiles int64, enforce bool, after *Usage) error {
	// A plain UPDATE (every upload and delete runs one); updated_at moves
	// as it did when gorm's Updates wrote it.
	q := `UPDATE partners SET used_bytes = CASE WHEN used_bytes + ? < 0 THEN 0 ELSE used_bytes + ? END,
		used_files = CASE WHEN used_files + ? < 0 THEN 0 ELSE used_files + ? END, updated_at = ?
		WHERE id = ?`
	args := []any{dBytes, dBytes, dFiles, dFiles, time.Now().UTC(), partnerID}
	if enforce {
		// Only growth is checked: an upload that shrinks a file is always fine.
		// The uploads of the partner whose usage is not in its counters
		// yet (BeginUpload left them unreserved while it had no quota, and
		// they are not finished) count too.
		// So do those whose intents are in the upload log.
		logged := s.uploads.pendingOf(partnerID)
		if dBytes > 0 {
			q += " AND (quota_bytes = 0 OR used_bytes + ? + (SELECT COALESCE(SUM(usage_bytes), 0) FROM upload_intents" +
				" WHERE partner_id = partners.id AND NOT usage_reserved) <= quota_bytes)"
			args = append(args, dBytes+logged.bytes)
		}
		if dFiles > 0 {
			q += " AND (quota_files = 0 OR used_files + ? + (SELECT COALESCE(SUM(usage_files), 0) FROM upload_intents" +
				" WHERE partner_id = partners.id AND NOT usage_reserved) <= quota_files)"
			args = append(args, dFiles+logged.files)
		}
	}
	var updated bool
	if after != nil {
		// A plain scan, not gorm's reflection over the struct.
		err := s.scanRow(ctx, q+" RETURNING quota_bytes, quota_files, used_bytes, used_files", args,
			&after.QuotaBytes, &after.QuotaFiles, &after.UsedBytes, &after.UsedFiles)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return translate(err)
		}
		updated = err == nil
	} else {
		n, err := s.exec(ctx, q, args...)
		if err != nil {
			return translate(err)
		}
		updated = n > 0
	}
	if !updated {
		if enforce {
			var n int64
			if err := s.q(ctx).Model(&Partner{}).Where("id = ?", partnerID).Count(&n).Error; err == nil && n > 0 {
				return ErrQuotaExceeded
			}
		}
		return ErrNotFound
	}
	return nil
}

// SetUsage overwrites a partner's usage counters (quota recalc).
func (s *Store) SetUsage(ctx context.Context, partnerID string, bytes, files int64) error {
	res := s.q(ctx).Model(&Partner{}).Where("id = ?", partnerID).
		Updates(map[string]any{"used_bytes": bytes, "used_files": files})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// CountTransfers counts audit rows matching f (paging totals, dashboards);
// the paging fields are ignored.
func (s *Store) CountTransfers(ctx context.Context, f TransferFilter) (int64, error) {
	var pending, n int64
	if f.Status == "" || f.Status == StatusCommitting {
		if err := s.where(s.q(ctx).Table(intentsTable), f).Count(&pending).Error; err != nil {
			return 0, translate(err)
		}
		if f.Status != "" {
			return pending, nil
		}
	}
	if err := s.where(s.q(ctx).Model(&Transfer{}), f).Count(&n).Error; err != nil {
		return 0, translate(err)
	}
	return pending + n, nil
}

// HourCount is the number and bytes of audit rows that started in one
// hour (UTC).
type HourCount struct {
	Hour  time.Time
	Count int64
	Bytes int64
}

// TransfersPerHour counts the audit rows matching f by the hour they
// started in, oldest hour first; hours without rows are missing. The
// database does the counting, so the cost is one index range over the
// (operation, status, started_at) index rather than every row sent here.
// The paging fields are ignored.
func (s *Store) TransfersPerHour(ctx context.Context, f TransferFilter) ([]HourCount, error) {
	hour := "strftime('%Y-%m-%d %H', started_at)"
	if s.dialect == migrations.Postgres {
		hour = "to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"
	}
	var rows []struct {
		Hour  string
		Count int64
		Bytes int64
	}
	f.Before, f.Limit = "", 0
	err := s.where(s.q(ctx).Model(&Transfer{}), f).Select(hour + " AS hour, COUNT(*) AS count, COALESCE(SUM(bytes), 0) AS bytes").
		Group("hour").Order("hour").Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	out := make([]HourCount, 0, len(rows))
	for _, r := range rows {
		h, err := time.Parse("2006-01-02 15", r.Hour)
		if err != nil {
			return nil, fmt.Errorf("store: hour %q: %w", r.Hour, err)
		}
		out = append(out, HourCount{Hour: h, Count: r.Count, Bytes: r.Bytes})
	}
	return out, nil
}
