package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/ferryhq/ferry/migrations"
)

// MailMessage is one message in a folder. The body is the blob BlobKey;
// Header is a copy of its header block (with the blank line) so header
// fetches and listings never read the blob.
type MailMessage struct {
	ID           string
	PartnerID    string
	FolderID     string
	UID          int64
	Modseq       int64
	Flags        string // space-separated IMAP flags, e.g. `\Seen \Answered`
	InternalDate time.Time
	Size         int64
	BlobKey      string
	Header       []byte
	Subject      string
	FromAddr     string
	ToAddr       string
	MessageID    string
	SentAt       *time.Time
	// Signature is the check of a signed message on delivery (mailsec:
	// "" not signed, valid, invalid, unknown_key) and Signer the key.
	Signature string
	Signer    string
}

// TableName keeps gorm on the migration's table name.
func (MailMessage) TableName() string { return "mail_messages" }

// FlagList returns the flags as a slice.
func (m *MailMessage) FlagList() []string { return strings.Fields(m.Flags) }

// HasFlag reports whether the message has flag (case-insensitive).
func (m *MailMessage) HasFlag(flag string) bool {
	return slices.ContainsFunc(m.FlagList(), func(f string) bool { return strings.EqualFold(f, flag) })
}

// MailBlob records a stored message body.
type MailBlob struct {
	Key       string `gorm:"primaryKey"`
	Size      int64
	CreatedAt time.Time
}

// TableName keeps gorm on the migration's table name.
func (MailBlob) TableName() string { return "mail_blobs" }

// metaColumns are the columns of a message without its header copy.
var metaColumns = []string{"id", "partner_id", "folder_id", "uid", "modseq", "flags", "internal_date", "size",
	"blob_key", "subject", "from_addr", "to_addr", "message_id", "sent_at", "signature", "signer"}

// InsertMailMessages records blob and, in the same transaction, one
// message per entry of msgs (FolderID, PartnerID and the metadata set by
// the caller); each gets the next UID of its folder. On return msgs carry
// their ID, UID and Modseq. Nothing is written unless everything is: a
// partner whose mailbox quota the messages would exceed fails it all with a
// *MailQuotaError naming every such partner.
func (s *Store) InsertMailMessages(ctx context.Context, blob MailBlob, msgs []MailMessage) error {
	if blob.CreatedAt.IsZero() {
		blob.CreatedAt = time.Now().UTC()
	}
	// Folders are locked in ID order, so that two deliveries to the same
	// folders cannot wait on each other.
	order := make([]int, len(msgs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(msgs[a].FolderID, msgs[b].FolderID) })
	return s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.exec(ctx, `INSERT INTO mail_blobs ("key", size, created_at) VALUES (?, ?, ?)`,
			blob.Key, blob.Size, blob.CreatedAt); err != nil {
			return translate(err)
		}
		charge := map[string]int64{}
		for _, i := range order {
			if err := tx.insertMessage(ctx, &msgs[i], blob.Key); err != nil {
				return err
			}
			charge[msgs[i].PartnerID] += msgs[i].Size
		}
		return tx.chargeMail(ctx, charge)
	})
}

// insertMessage adds m to its folder: the folder row's UID, modseq and
// counts in one statement, then the message row (a plain INSERT: this is
// the path of every delivery and APPEND).
func (s *Store) insertMessage(ctx context.Context, m *MailMessage, blobKey string) error {
	var modseq, uidNext int64
	err := s.scanRow(ctx, `UPDATE mail_folders SET modseq = modseq + 1, uid_next = uid_next + 1,
			messages = messages + 1, bytes = bytes + ?, seen = seen + ?
		WHERE id = ? RETURNING modseq, uid_next`, []any{m.Size, seenCount(m.Flags), m.FolderID}, &modseq, &uidNext)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return translate(err)
	}
	m.ID, m.UID, m.Modseq, m.BlobKey = NewID(), uidNext-1, modseq, blobKey
	m.InternalDate = m.InternalDate.UTC()
	if m.Header == nil {
		m.Header = []byte{}
	}
	_, err = s.exec(ctx, `INSERT INTO mail_messages (id, partner_id, folder_id, uid, modseq, flags, internal_date, size,
			blob_key, header, subject, from_addr, to_addr, message_id, sent_at, signature, signer)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.PartnerID, m.FolderID, m.UID, m.Modseq, m.Flags, m.InternalDate, m.Size,
		m.BlobKey, m.Header, m.Subject, m.FromAddr, m.ToAddr, m.MessageID, m.SentAt, m.Signature, m.Signer)
	return translate(err)
}

// seenCount is 1 when flags hold \Seen (as the folder counts reckon it).
func seenCount(flags string) int64 {
	if slices.Contains(strings.Fields(flags), `\Seen`) {
		return 1
	}
	return 0
}

// lockFolder locks a folder's row until the transaction ends (PostgreSQL;
// SQLite transactions already run one at a time).
func (s *Store) lockFolder(ctx context.Context, folderID string) error {
	if s.dialect != migrations.Postgres {
		return nil
	}
	return translate(s.q(ctx).Exec(`SELECT id FROM mail_folders WHERE id = ? FOR UPDATE`, folderID).Error)
}

// countFolder changes a folder's message, byte and \Seen counts, on the
// row bumpFolder locked in the same transaction.
func (s *Store) countFolder(ctx context.Context, folderID string, dMsgs, dBytes, dSeen int64) error {
	if dMsgs == 0 && dBytes == 0 && dSeen == 0 {
		return nil
	}
	return translate(s.q(ctx).Exec(`UPDATE mail_folders SET messages = messages + ?, bytes = bytes + ?, seen = seen + ? WHERE id = ?`,
		dMsgs, dBytes, dSeen, folderID).Error)
}

// MailMessages returns a folder's messages (without header copies) by UID.
func (s *Store) MailMessages(ctx context.Context, folderID string) ([]MailMessage, error) {
	var out []MailMessage
	err := s.q(ctx).Select(metaColumns).Where("folder_id = ?", folderID).Order("uid").Find(&out).Error
	return out, translate(err)
}

// MailMessagesByUID returns the messages with the given UIDs, by UID;
// withHeader also loads the header copies. Missing UIDs are skipped.
func (s *Store) MailMessagesByUID(ctx context.Context, folderID string, uids []int64, withHeader bool) ([]MailMessage, error) {
	var out []MailMessage
	for chunk := range slices.Chunk(uids, 500) {
		var part []MailMessage
		q := s.q(ctx)
		if !withHeader {
			q = q.Select(metaColumns)
		}
		if err := q.Where("folder_id = ? AND uid IN ?", folderID, chunk).Order("uid").Find(&part).Error; err != nil {
			return nil, translate(err)
		}
		out = append(out, part...)
	}
	slices.SortFunc(out, func(a, b MailMessage) int { return int(a.UID - b.UID) })
	return out, nil
}

// MailChanges returns the UID, modseq and flags of the messages changed
// after modseq since, by UID.
func (s *Store) MailChanges(ctx context.Context, folderID string, since int64) ([]MailMessage, error) {
	var out []MailMessage
	err := s.q(ctx).Select("uid", "modseq", "flags").Where("folder_id = ? AND modseq > ?", folderID, since).
		Order("uid").Find(&out).Error
	return out, translate(err)
}

// MailUIDs returns the UIDs of a folder in order.
func (s *Store) MailUIDs(ctx context.Context, folderID string) ([]int64, error) {
	var out []int64
	err := s.q(ctx).Model(&MailMessage{}).Where("folder_id = ?", folderID).Order("uid").Pluck("uid", &out).Error
	return out, translate(err)
}

// FlagOp says how UpdateMailFlags changes flags.
type FlagOp int

// The STORE operations.
const (
	FlagsSet FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// UpdateMailFlags changes the flags of the messages with the given UIDs
// and returns them (UID, Modseq, Flags) as they are afterwards. Only
// messages whose flags really change get a new modseq.
func (s *Store) UpdateMailFlags(ctx context.Context, folderID string, uids []int64, op FlagOp, flags []string) ([]MailMessage, error) {
	var out []MailMessage
	err := s.Tx(ctx, func(tx *Store) error {
		out = out[:0]
		// The folder row is locked before the flags are read, so that two
		// concurrent changes of the same message count its \Seen once.
		if err := tx.lockFolder(ctx, folderID); err != nil {
			return err
		}
		var msgs []MailMessage
		for chunk := range slices.Chunk(uids, 500) {
			var part []MailMessage
			if err := tx.q(ctx).Select("id", "uid", "modseq", "flags").Where("folder_id = ? AND uid IN ?", folderID, chunk).
				Find(&part).Error; err != nil {
				return translate(err)
			}
			msgs = append(msgs, part...)
		}
		slices.SortFunc(msgs, func(a, b MailMessage) int { return int(a.UID - b.UID) })
		var modseq, dSeen int64
		for _, m := range msgs {
			next := ApplyFlags(m.FlagList(), op, flags)
			if joined := strings.Join(next, " "); joined != m.Flags {
				dSeen += seenCount(joined) - seenCount(m.Flags)
				if modseq == 0 {
					var err error
					if modseq, _, err = tx.bumpFolder(ctx, folderID, 0); err != nil {
						return err
					}
				}
				if err := tx.q(ctx).Model(&MailMessage{}).Where("id = ?", m.ID).
					Updates(map[string]any{"flags": joined, "modseq": modseq}).Error; err != nil {
					return translate(err)
				}
				m.Flags, m.Modseq = joined, modseq
			}
			out = append(out, m)
		}
		return tx.countFolder(ctx, folderID, 0, 0, dSeen)
	})
	return out, err
}

// ApplyFlags returns cur changed by op, without duplicates (compared
// case-insensitively), sorted.
func ApplyFlags(cur []string, op FlagOp, flags []string) []string {
	has := func(list []string, f string) bool {
		return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, f) })
	}
	var out []string
	switch op {
	case FlagsSet:
		for _, f := range flags {
			if !has(out, f) {
				out = append(out, f)
			}
		}
	case FlagsAdd:
		out = slices.Clone(cur)
		for _, f := range flags {
			if !has(out, f) {
				out = append(out, f)
			}
		}
	case FlagsRemove:
		for _, f := range cur {
			if !has(flags, f) {
				out = append(out, f)
			}
		}
	}
	slices.Sort(out)
	return out
}

// DeleteMailMessages removes the messages with the given UIDs (all
// messages when uids is nil), only those flagged \Deleted if onlyDeleted,
// and returns the UIDs removed and the blobs they used; the caller offers
// those to DeleteMailBlob after the commit.
func (s *Store) DeleteMailMessages(ctx context.Context, folderID string, uids []int64, onlyDeleted bool) (removed []int64, blobs []string, err error) {
	err = s.Tx(ctx, func(tx *Store) error {
		freed := map[string]int64{}
		var err error
		if removed, blobs, err = tx.deleteMessages(ctx, folderID, uids, onlyDeleted, freed); err != nil {
			return err
		}
		return tx.chargeMail(ctx, freed)
	})
	return removed, blobs, err
}

// deleteMessages removes messages (see DeleteMailMessages) and subtracts
// the bytes of the rows it really deleted from charge, per partner; the
// caller applies charge with chargeMail at the end of its transaction.
func (s *Store) deleteMessages(ctx context.Context, folderID string, uids []int64, onlyDeleted bool, charge map[string]int64) ([]int64, []string, error) {
	var msgs []MailMessage
	q := s.q(ctx).Select("id", "uid", "flags", "blob_key").Where("folder_id = ?", folderID)
	if uids != nil {
		if len(uids) == 0 {
			return nil, nil, nil
		}
		q = q.Where("uid IN ?", uids)
	}
	if err := q.Order("uid").Find(&msgs).Error; err != nil {
		return nil, nil, translate(err)
	}
	var ids, blobs []string
	var removed []int64
	for _, m := range msgs {
		if onlyDeleted && !m.HasFlag(`\Deleted`) {
			continue
		}
		ids = append(ids, m.ID)
		removed = append(removed, m.UID)
		if !slices.Contains(blobs, m.BlobKey) {
			blobs = append(blobs, m.BlobKey)
		}
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	if _, _, err := s.bumpFolder(ctx, folderID, 0); err != nil {
		return nil, nil, err
	}
	for chunk := range slices.Chunk(ids, 500) {
		// RETURNING counts only the rows this transaction deleted, not
		// those a concurrent expunge took first.
		var gone []struct {
			PartnerID string
			Size      int64
			Flags     string
		}
		if err := s.q(ctx).Raw("DELETE FROM mail_messages WHERE id IN ? RETURNING partner_id, size, flags", chunk).Scan(&gone).Error; err != nil {
			return nil, nil, translate(err)
		}
		var dBytes, dSeen int64
		for _, g := range gone {
			charge[g.PartnerID] -= g.Size
			dBytes -= g.Size
			dSeen -= seenCount(g.Flags)
		}
		if err := s.countFolder(ctx, folderID, -int64(len(gone)), dBytes, dSeen); err != nil {
			return nil, nil, err
		}
	}
	return removed, blobs, nil
}

// CopyMailMessages copies the messages with the given UIDs from one folder
// to another, sharing their blobs, with new UIDs in the target; move also
// removes them from the source, in the same transaction. A copy that would
// exceed the mailbox quota fails with a *MailQuotaError. It returns the
// source UIDs and the matching new UIDs.
func (s *Store) CopyMailMessages(ctx context.Context, fromID string, uids []int64, toID string, move bool) (src, dst []int64, err error) {
	err = s.Tx(ctx, func(tx *Store) error {
		src, dst = nil, nil
		var msgs []MailMessage
		for chunk := range slices.Chunk(uids, 500) {
			var part []MailMessage
			if err := tx.q(ctx).Where("folder_id = ? AND uid IN ?", fromID, chunk).Find(&part).Error; err != nil {
				return translate(err)
			}
			msgs = append(msgs, part...)
		}
		slices.SortFunc(msgs, func(a, b MailMessage) int { return int(a.UID - b.UID) })
		charge := map[string]int64{}
		for _, m := range msgs {
			src = append(src, m.UID)
			m.FolderID = toID
			if err := tx.insertMessage(ctx, &m, m.BlobKey); err != nil {
				return err
			}
			dst = append(dst, m.UID)
			charge[m.PartnerID] += m.Size
		}
		if move && len(src) > 0 {
			if _, _, err := tx.deleteMessages(ctx, fromID, src, false, charge); err != nil {
				return err
			}
		}
		// A copy counts against the quota (it is refused past it); a move
		// within one mailbox adds nothing.
		return tx.chargeMail(ctx, charge)
	})
	return src, dst, err
}

// MailMessageByID returns one message of a partner, with its header copy.
func (s *Store) MailMessageByID(ctx context.Context, partnerID, id string) (*MailMessage, error) {
	var m MailMessage
	if err := s.q(ctx).Where("partner_id = ? AND id = ?", partnerID, id).Take(&m).Error; err != nil {
		return nil, translate(err)
	}
	return &m, nil
}

// MailFolderStat sums up one folder.
type MailFolderStat struct {
	FolderID string
	Messages int64
	Unseen   int64
	Bytes    int64
}

// MailFolderStats returns message counts and sizes of a partner's folders
// (folders without messages are missing from the map). They are the
// counts each folder row keeps (countFolder, in the transaction of every
// change to its messages): one row per folder is read, however many
// messages the folders hold.
func (s *Store) MailFolderStats(ctx context.Context, partnerID string) (map[string]MailFolderStat, error) {
	var rows []struct {
		ID       string
		Messages int64
		Bytes    int64
		Seen     int64
	}
	err := s.q(ctx).Model(&MailFolder{}).Select("id, messages, bytes, seen").
		Where("partner_id = ? AND messages > 0", partnerID).Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	out := make(map[string]MailFolderStat, len(rows))
	for _, r := range rows {
		out[r.ID] = MailFolderStat{FolderID: r.ID, Messages: r.Messages, Unseen: r.Messages - r.Seen, Bytes: r.Bytes}
	}
	return out, nil
}

// mailFolderStatsCounted is MailFolderStats counted from the messages
// (tests compare the kept counts with it).
func (s *Store) mailFolderStatsCounted(ctx context.Context, partnerID string) (map[string]MailFolderStat, error) {
	var rows []struct {
		FolderID string
		Messages int64
		Bytes    int64
		Seen     int64
	}
	err := s.q(ctx).Model(&MailMessage{}).
		Select(`folder_id, COUNT(*) AS messages, COALESCE(SUM(size), 0) AS bytes,
			SUM(CASE WHEN ' ' || flags || ' ' LIKE '% \Seen %' ESCAPE '!' THEN 1 ELSE 0 END) AS seen`).
		Where("partner_id = ?", partnerID).Group("folder_id").Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	out := make(map[string]MailFolderStat, len(rows))
	for _, r := range rows {
		out[r.FolderID] = MailFolderStat{FolderID: r.FolderID, Messages: r.Messages, Unseen: r.Messages - r.Seen, Bytes: r.Bytes}
	}
	return out, nil
}

// MailUsage returns the bytes a partner's mailbox holds.
func (s *Store) MailUsage(ctx context.Context, partnerID string) (int64, error) {
	var n int64
	err := s.q(ctx).Model(&MailMessage{}).Select("COALESCE(SUM(size), 0)").Where("partner_id = ?", partnerID).Scan(&n).Error
	return n, translate(err)
}

// MailPage returns up to limit messages of a folder (without header
// copies), newest first, with UIDs below beforeUID (0: from the newest).
func (s *Store) MailPage(ctx context.Context, folderID string, beforeUID int64, limit int) ([]MailMessage, error) {
	q := s.q(ctx).Select(metaColumns).Where("folder_id = ?", folderID)
	if beforeUID > 0 {
		q = q.Where("uid < ?", beforeUID)
	}
	var out []MailMessage
	err := q.Order("uid DESC").Limit(limit).Find(&out).Error
	return out, translate(err)
}

// UnreferencedMailBlobs returns up to limit blob keys older than cutoff
// that no message uses.
func (s *Store) UnreferencedMailBlobs(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	var keys []string
	err := s.q(ctx).Model(&MailBlob{}).
		Where("created_at < ? AND NOT EXISTS (SELECT 1 FROM mail_messages m WHERE m.blob_key = mail_blobs.key)", cutoff.UTC()).
		Order("key").Limit(limit).Pluck("key", &keys).Error
	return keys, translate(err)
}

// DeleteMailBlob removes the record of a blob if no message uses it and
// reports whether it did; the caller then removes the file. A message
// inserted concurrently keeps the row (the foreign key refuses the delete).
func (s *Store) DeleteMailBlob(ctx context.Context, key string) (bool, error) {
	res := s.q(ctx).Where("key = ? AND NOT EXISTS (SELECT 1 FROM mail_messages m WHERE m.blob_key = ?)", key, key).
		Delete(&MailBlob{})
	if res.Error != nil {
		if errors.Is(res.Error, gorm.ErrForeignKeyViolated) {
			return false, nil
		}
		return false, translate(res.Error)
	}
	return res.RowsAffected > 0, nil
}

// MailBlobExists reports whether a blob is recorded.
func (s *Store) MailBlobExists(ctx context.Context, key string) (bool, error) {
	var n int64
	err := s.q(ctx).Model(&MailBlob{}).Where("key = ?", key).Count(&n).Error
	return n > 0, translate(err)
}
