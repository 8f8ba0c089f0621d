package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// MailFolder is one folder of a partner's mailbox. Names are full paths
// with "/" between levels; "INBOX" is the inbox.
type MailFolder struct {
	ID          string
	PartnerID   string
	Name        string
	UIDValidity int64
	UIDNext     int64 // the UID the next message gets
	Modseq      int64 // grows with every change to the folder or its messages
	Subscribed  bool
	CreatedAt   time.Time
}

// TableName keeps gorm on the migration's table name.
func (MailFolder) TableName() string { return "mail_folders" }

// MailInbox is the name of the folder new mail lands in.
const MailInbox = "INBOX"

// nextCounter returns the next value of a named counter. Must run inside a
// transaction; the row lock serializes concurrent callers on PostgreSQL,
// the database lock on SQLite.
func (s *Store) nextCounter(ctx context.Context, name string) (int64, error) {
	var v int64
	err := s.q(ctx).Raw("UPDATE mail_counters SET value = value + 1 WHERE name = ? RETURNING value", name).Scan(&v).Error
	if err != nil {
		return 0, translate(err)
	}
	if v == 0 {
		return 0, errors.New("store: counter " + name + " is missing")
	}
	return v, nil
}

// CreateMailFolder creates a folder with a fresh UIDVALIDITY. It returns
// ErrConflict if the partner already has a folder of that name.
func (s *Store) CreateMailFolder(ctx context.Context, partnerID, name string, subscribed bool) (*MailFolder, error) {
	f := &MailFolder{ID: NewID(), PartnerID: partnerID, Name: name, UIDNext: 1, Modseq: 1,
		Subscribed: subscribed, CreatedAt: time.Now().UTC()}
	err := s.Tx(ctx, func(tx *Store) error {
		v, err := tx.nextCounter(ctx, "uidvalidity")
		if err != nil {
			return err
		}
		f.UIDValidity = v
		return translate(tx.q(ctx).Select("*").Create(f).Error)
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// MailFolder returns a partner's folder by name.
func (s *Store) MailFolder(ctx context.Context, partnerID, name string) (*MailFolder, error) {
	return s.mailFolder(ctx, "partner_id = ? AND name = ?", partnerID, name)
}

// MailFolderByID returns a folder.
func (s *Store) MailFolderByID(ctx context.Context, id string) (*MailFolder, error) {
	return s.mailFolder(ctx, "id = ?", id)
}

// mailFolder reads one folder row, scanned by hand with a prepared
// statement (where is one of the two conditions above, so the statement's
// text is fixed): every SMTP delivery, APPEND and SELECT looks a folder up.
func (s *Store) mailFolder(ctx context.Context, where string, args ...any) (*MailFolder, error) {
	var f MailFolder
	err := s.scanRow(ctx, `SELECT id, partner_id, name, uid_validity, uid_next, modseq, subscribed, created_at
		FROM mail_folders WHERE `+where, args,
		&f.ID, &f.PartnerID, &f.Name, &f.UIDValidity, &f.UIDNext, &f.Modseq, &f.Subscribed, &f.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, translate(err)
	}
	return &f, nil
}

// EnsureMailFolder returns the named folder, creating it if needed (two
// nodes creating it at once both get the same folder).
func (s *Store) EnsureMailFolder(ctx context.Context, partnerID, name string) (*MailFolder, error) {
	f, err := s.MailFolder(ctx, partnerID, name)
	if !errors.Is(err, ErrNotFound) {
		return f, err
	}
	f, err = s.CreateMailFolder(ctx, partnerID, name, true)
	if errors.Is(err, ErrConflict) {
		return s.MailFolder(ctx, partnerID, name)
	}
	return f, err
}

// MailFolders lists a partner's folders by name.
func (s *Store) MailFolders(ctx context.Context, partnerID string) ([]MailFolder, error) {
	var out []MailFolder
	if err := s.q(ctx).Where("partner_id = ?", partnerID).Order("name").Find(&out).Error; err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// DeleteMailFolder removes a folder and its messages and returns the blobs
// they used, for DeleteMailBlob after the commit.
func (s *Store) DeleteMailFolder(ctx context.Context, id string) (blobs []string, err error) {
	err = s.Tx(ctx, func(tx *Store) error {
		freed := map[string]int64{}
		var err error
		if _, blobs, err = tx.deleteMessages(ctx, id, nil, false, freed); err != nil {
			return err
		}
		if err := tx.chargeMail(ctx, freed); err != nil {
			return err
		}
		res := tx.q(ctx).Where("id = ?", id).Delete(&MailFolder{})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
	return blobs, err
}

// RenameMailFolder renames a folder and every folder below it ("a" to "b"
// also renames "a/x" to "b/x"), keeping their UIDVALIDITY: the messages do
// not change. It returns ErrConflict if a target name exists.
func (s *Store) RenameMailFolder(ctx context.Context, partnerID, from, to, delim string) error {
	return s.Tx(ctx, func(tx *Store) error {
		var all []MailFolder
		if err := tx.q(ctx).Where("partner_id = ?", partnerID).Find(&all).Error; err != nil {
			return translate(err)
		}
		found := false
		for _, f := range all {
			var newName string
			switch {
			case f.Name == from:
				newName, found = to, true
			case strings.HasPrefix(f.Name, from+delim):
				newName = to + strings.TrimPrefix(f.Name, from)
			default:
				continue
			}
			res := tx.q(ctx).Model(&MailFolder{}).Where("id = ?", f.ID).
				Updates(map[string]any{"name": newName, "modseq": f.Modseq + 1})
			if res.Error != nil {
				return translate(res.Error)
			}
		}
		if !found {
			return ErrNotFound
		}
		return nil
	})
}

// SetMailFolderSubscribed changes the IMAP subscription of a folder.
func (s *Store) SetMailFolderSubscribed(ctx context.Context, id string, on bool) error {
	res := s.q(ctx).Model(&MailFolder{}).Where("id = ?", id).Update("subscribed", on)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// bumpFolder increments a folder's modseq (and, with uids > 0, reserves that
// many UIDs) and returns the new modseq and the first reserved UID. Inside a
// transaction the row stays locked until commit, so UIDs commit in order.
func (s *Store) bumpFolder(ctx context.Context, folderID string, uids int64) (modseq, firstUID int64, err error) {
	var row struct {
		Modseq  int64
		UIDNext int64
	}
	err = s.q(ctx).Raw("UPDATE mail_folders SET modseq = modseq + 1, uid_next = uid_next + ? WHERE id = ? RETURNING modseq, uid_next",
		uids, folderID).Scan(&row).Error
	if err != nil {
		return 0, 0, translate(err)
	}
	if row.Modseq == 0 {
		return 0, 0, ErrNotFound
	}
	return row.Modseq, row.UIDNext - uids, nil
}

// MailLock is the POP3 maildrop lock of a folder.
type MailLock struct {
	FolderID  string `gorm:"primaryKey"`
	Holder    string
	ExpiresAt time.Time
}

// TableName keeps gorm on the migration's table name.
func (MailLock) TableName() string { return "mail_locks" }

// AcquireMailLock takes the lock of a folder for holder until ttl from now.
// An expired lock (a crashed holder) is taken over. It returns ErrConflict
// while another holder has it.
func (s *Store) AcquireMailLock(ctx context.Context, folderID, holder string, ttl time.Duration) error {
	now := time.Now().UTC()
	if err := s.q(ctx).Where("folder_id = ? AND expires_at < ?", folderID, now).Delete(&MailLock{}).Error; err != nil {
		return translate(err)
	}
	// The primary key decides between two nodes racing here.
	return translate(s.q(ctx).Create(&MailLock{FolderID: folderID, Holder: holder, ExpiresAt: now.Add(ttl)}).Error)
}

// RenewMailLock extends a held lock; ErrNotFound means it was lost.
func (s *Store) RenewMailLock(ctx context.Context, folderID, holder string, ttl time.Duration) error {
	res := s.q(ctx).Model(&MailLock{}).Where("folder_id = ? AND holder = ?", folderID, holder).
		Update("expires_at", time.Now().UTC().Add(ttl))
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// ReleaseMailLock drops the lock if holder still has it.
func (s *Store) ReleaseMailLock(ctx context.Context, folderID, holder string) error {
	return translate(s.q(ctx).Where("folder_id = ? AND holder = ?", folderID, holder).Delete(&MailLock{}).Error)
}
