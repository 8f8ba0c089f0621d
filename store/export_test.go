package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// OnRetentionBatch makes s tell f of every batch a retention delete
// commits, with the rows it deleted.
func (s *Store) OnRetentionBatch(f func(deleted int64)) { s.onBatch = f }

// SetNotificationStatusForTest sets a row's status (sent rows get a
// sent_at).
func (s *Store) SetNotificationStatusForTest(ctx context.Context, id, status string) error {
	up := map[string]any{"status": status}
	if status == NotifySent {
		up["sent_at"] = time.Now().UTC()
	}
	return s.q(ctx).Model(&Notification{}).Where("id = ?", id).Updates(up).Error
}

// MailFolderStatsCounted counts a partner's folder stats from the messages.
func (s *Store) MailFolderStatsCounted(ctx context.Context, partnerID string) (map[string]MailFolderStat, error) {
	return s.mailFolderStatsCounted(ctx, partnerID)
}

// RecordTransfersWithGorm writes rows as RecordTransfers did before its
// plain INSERTs (gorm's CreateInBatches of 100): the benchmark's reference.
func (s *Store) RecordTransfersWithGorm(ctx context.Context, rows []*Transfer) error {
	return s.Tx(ctx, func(tx *Store) error {
		return translate(tx.q(ctx).CreateInBatches(rows, 100).Error)
	})
}

// WritersWaiting reports whether a transaction waits for its turn on
// SQLite's single writer.
func (s *Store) WritersWaiting() bool { return s.writer != nil && s.writer.waiting.Load() > 0 }

// WithBetweenHeads makes a claim with o call f after each batch it claimed
// and before it looks at the next.
func WithBetweenHeads(o ClaimOptions, f func()) ClaimOptions {
	o.betweenHeads = f
	return o
}

// TransferIndexes lists the indexes of transfers (SQLite), but the
// primary key's.
func (s *Store) TransferIndexes(ctx context.Context) ([]string, error) {
	var names []string
	err := s.q(ctx).Raw(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'transfers'
		AND name NOT LIKE 'sqlite_autoindex_%' ORDER BY name`).Scan(&names).Error
	return names, err
}

// DropIndex drops an index (a benchmark's variant of the schema).
func (s *Store) DropIndex(ctx context.Context, name string) error {
	return s.q(ctx).Exec(`DROP INDEX "` + name + `"`).Error
}

// InsertNotificationWithGorm inserts n with gorm's Create, the way
// InsertNotification did before its hand-written INSERT (the benchmark's
// reference).
func (s *Store) InsertNotificationWithGorm(ctx context.Context, n *Notification) error {
	return s.q(ctx).Create(n).Error
}

// BeginUploadInSQLTx is BeginUpload in a database/sql transaction (gorm's
// Transaction), as Store.Tx ran every transaction before its write
// connection: the benchmark's reference. SQLite only.
func (s *Store) BeginUploadInSQLTx(ctx context.Context, t *Transfer) error {
	if t.ID == "" {
		t.ID = NewID()
	}
	t.Status = StatusCommitting
	if err := s.writer.acquire(ctx); err != nil {
		return err
	}
	defer s.writer.release()
	return translate(s.db.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		_, _, err := (&Store{db: g, dialect: s.dialect, stmts: s.stmts, memo: &txMemo{}}).reserveUpload(ctx, t)
		return err
	}))
}

// ExecForTest runs a statement on s (in its transaction, if any).
func (s *Store) ExecForTest(ctx context.Context, q string, args ...any) error {
	return translate(s.q(ctx).Exec(q, args...).Error)
}

// BeginUploadIntoTransfers is BeginUpload with its row written into the
// audit table (status committing), as before upload_intents: the
// benchmark's reference.
func (s *Store) BeginUploadIntoTransfers(ctx context.Context, t *Transfer) error {
	if t.ID == "" {
		t.ID = NewID()
	}
	t.Status = StatusCommitting
	return s.Tx(ctx, func(tx *Store) error {
		if t.PartnerID != nil {
			if err := tx.addUsage(ctx, *t.PartnerID, t.UsageBytes, t.UsageFiles, true, &Usage{}); err != nil {
				return err
			}
		}
		return tx.insertTransfers(ctx, []*Transfer{t})
	})
}

// WithBetweenFolds makes a claim with o call f before each transaction
// of a digest's fold that comes after the claim's own.
func WithBetweenFolds(o ClaimOptions, f func()) ClaimOptions {
	o.betweenFolds = f
	return o
}

// FoldChunk is foldChunk.
const FoldChunk = foldChunk

// AfterCommitForTest is afterCommit.
func (s *Store) AfterCommitForTest(f func()) { s.afterCommit(f) }
