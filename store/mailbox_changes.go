package store

import (
	"context"
	"database/sql"
	"slices"
)

// The queries here serve a node's in-memory copy of a selected folder
// (the IMAP server's): they run on every command, so they scan rows by
// hand instead of through gorm's reflection, on the same connections.

// MailFolderVersion is the state of a folder a cached copy of its messages
// is checked against: every change to a message raises Modseq, in the
// transaction that makes it, and Messages counts the folder's messages.
type MailFolderVersion struct {
	Modseq      int64
	UIDValidity int64
	UIDNext     int64
	Messages    int64
}

// MailFolderChanges returns a folder's version and the messages changed
// after modseq since (all of them when since is 0), by UID, without their
// header copies (see MailHeaders), read in one statement so the rows are
// exactly those of that version. A folder's modseqs commit in order, so the
// rows changed after since are every message added or changed since a read
// that returned since; an expunge shows only in Messages. ErrNotFound: no
// such folder.
func (s *Store) MailFolderChanges(ctx context.Context, folderID string, since int64) (MailFolderVersion, []MailMessage, error) {
	rows, err := s.q(ctx).Raw(`SELECT f.modseq, f.uid_validity, f.uid_next, f.messages,
			m.uid, m.modseq, m.flags, m.internal_date, m.size, m.blob_key
		FROM mail_folders f LEFT JOIN mail_messages m ON m.folder_id = f.id AND m.modseq > ?
		WHERE f.id = ? ORDER BY m.uid`, since, folderID).Rows()
	if err != nil {
		return MailFolderVersion{}, nil, translate(err)
	}
	defer rows.Close()
	var (
		v     MailFolderVersion
		out   []MailMessage
		found bool
	)
	for rows.Next() {
		var (
			uid, modseq, size sql.NullInt64
			flags, blob       sql.NullString
			date              sql.NullTime
		)
		if err := rows.Scan(&v.Modseq, &v.UIDValidity, &v.UIDNext, &v.Messages,
			&uid, &modseq, &flags, &date, &size, &blob); err != nil {
			return MailFolderVersion{}, nil, translate(err)
		}
		found = true
		if !uid.Valid {
			continue // the folder without changed messages
		}
		out = append(out, MailMessage{FolderID: folderID, UID: uid.Int64, Modseq: modseq.Int64, Flags: flags.String,
			InternalDate: date.Time.UTC(), Size: size.Int64, BlobKey: blob.String})
	}
	if err := rows.Err(); err != nil {
		return MailFolderVersion{}, nil, translate(err)
	}
	if !found {
		return MailFolderVersion{}, nil, ErrNotFound
	}
	return v, out, nil
}

// MailFolderUIDs returns the UIDs of a folder in order (MailUIDs without
// gorm, for the IMAP server's copy of a folder).
func (s *Store) MailFolderUIDs(ctx context.Context, folderID string) ([]int64, error) {
	rows, err := s.q(ctx).Raw(`SELECT uid FROM mail_messages WHERE folder_id = ? ORDER BY uid`, folderID).Rows()
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var uid int64
		if err := rows.Scan(&uid); err != nil {
			return nil, translate(err)
		}
		out = append(out, uid)
	}
	return out, translate(rows.Err())
}

// MailHeaders returns the header copies (UID and Header set) of the
// messages of a folder with the given UIDs (sorted), by UID; missing UIDs
// are skipped. UIDs that are most of their range are read with one range
// query (a FETCH 1:1000 is one statement), scattered ones by lists.
func (s *Store) MailHeaders(ctx context.Context, folderID string, uids []int64) ([]MailMessage, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	out := make([]MailMessage, 0, len(uids))
	scan := func(rows *sql.Rows, err error) error {
		if err != nil {
			return translate(err)
		}
		defer rows.Close()
		for rows.Next() {
			var m MailMessage
			if err := rows.Scan(&m.UID, &m.Header); err != nil {
				return translate(err)
			}
			out = append(out, m)
		}
		return translate(rows.Err())
	}
	first, last := uids[0], uids[len(uids)-1]
	if span := last - first + 1; int64(len(uids))*4 >= span {
		err := scan(s.q(ctx).Raw(`SELECT uid, header FROM mail_messages WHERE folder_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`,
			folderID, first, last).Rows())
		if err != nil {
			return nil, err
		}
		if int64(len(uids)) == span {
			return out, nil
		}
		// Drop the rows between the wanted ones.
		return slices.DeleteFunc(out, func(m MailMessage) bool {
			_, ok := slices.BinarySearch(uids, m.UID)
			return !ok
		}), nil
	}
	for chunk := range slices.Chunk(uids, 500) {
		if err := scan(s.q(ctx).Raw(`SELECT uid, header FROM mail_messages WHERE folder_id = ? AND uid IN ? ORDER BY uid`,
			folderID, chunk).Rows()); err != nil {
			return nil, err
		}
	}
	return out, nil
}
