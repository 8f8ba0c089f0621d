package mailbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ferryhq/ferry/store"
)

// NormalizeFolder checks a folder name and returns its stored form: "INBOX"
// in any case is INBOX; levels are separated by Delim, none may be empty.
func NormalizeFolder(name string) (string, error) {
	name = strings.TrimSuffix(name, Delim)
	if strings.EqualFold(name, store.MailInbox) {
		return store.MailInbox, nil
	}
	if name == "" || len(name) > 512 || !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: %q", ErrBadFolderName, name)
	}
	for _, part := range strings.Split(name, Delim) {
		if part == "" || strings.ContainsAny(part, "*%\x00") || strings.ContainsFunc(part, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return "", fmt.Errorf("%w: %q", ErrBadFolderName, name)
		}
	}
	if first, rest, ok := strings.Cut(name, Delim); ok && strings.EqualFold(first, store.MailInbox) {
		name = store.MailInbox + Delim + rest
	}
	return name, nil
}

// Folder returns a partner's folder; INBOX always exists.
func (s *Store) Folder(ctx context.Context, partnerID, name string) (*store.MailFolder, error) {
	name, err := NormalizeFolder(name)
	if err != nil {
		return nil, err
	}
	var f *store.MailFolder
	if name == store.MailInbox {
		f, err = s.DB.EnsureMailFolder(ctx, partnerID, name)
	} else {
		f, err = s.DB.MailFolder(ctx, partnerID, name)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrNoSuchFolder, name)
	}
	if err != nil {
		return nil, fmt.Errorf("mailbox: folder %q: %w", name, err)
	}
	return f, nil
}

// Folders lists a partner's folders by name, INBOX included.
func (s *Store) Folders(ctx context.Context, partnerID string) ([]store.MailFolder, error) {
	if _, err := s.DB.EnsureMailFolder(ctx, partnerID, store.MailInbox); err != nil {
		return nil, fmt.Errorf("mailbox: folders: %w", err)
	}
	fs, err := s.DB.MailFolders(ctx, partnerID)
	if err != nil {
		return nil, fmt.Errorf("mailbox: folders: %w", err)
	}
	return fs, nil
}

// CreateFolder creates a folder and any missing parent ("a/b/c" creates
// "a" and "a/b" too).
func (s *Store) CreateFolder(ctx context.Context, partnerID, name string) error {
	name, err := NormalizeFolder(name)
	if err != nil {
		return err
	}
	if name == store.MailInbox {
		return fmt.Errorf("%w: %q", ErrFolderExists, name)
	}
	parts := strings.Split(name, Delim)
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], Delim)
		if _, err := s.DB.EnsureMailFolder(ctx, partnerID, parent); err != nil {
			return fmt.Errorf("mailbox: create %q: %w", parent, err)
		}
	}
	_, err = s.DB.CreateMailFolder(ctx, partnerID, name, true)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: %q", ErrFolderExists, name)
	}
	if err != nil {
		return fmt.Errorf("mailbox: create %q: %w", name, err)
	}
	return nil
}

// ErrHasChildren refuses to delete a folder with sub-folders.
var ErrHasChildren = errors.New("mailbox: folder has sub-folders; delete them first")

// DeleteFolder deletes a folder and its messages. INBOX cannot be deleted,
// nor a folder with sub-folders.
func (s *Store) DeleteFolder(ctx context.Context, partnerID, name string) error {
	name, err := NormalizeFolder(name)
	if err != nil {
		return err
	}
	if name == store.MailInbox {
		return fmt.Errorf("%w: INBOX cannot be deleted", ErrBadFolderName)
	}
	all, err := s.DB.MailFolders(ctx, partnerID)
	if err != nil {
		return fmt.Errorf("mailbox: delete %q: %w", name, err)
	}
	var id string
	for _, f := range all {
		if f.Name == name {
			id = f.ID
		}
		if strings.HasPrefix(f.Name, name+Delim) {
			return fmt.Errorf("%w: %q", ErrHasChildren, name)
		}
	}
	if id == "" {
		return fmt.Errorf("%w: %q", ErrNoSuchFolder, name)
	}
	blobs, err := s.DB.DeleteMailFolder(ctx, id)
	if err != nil {
		return fmt.Errorf("mailbox: delete %q: %w", name, err)
	}
	s.notify(id)
	s.collect(blobs)
	return nil
}

// RenameFolder renames a folder with its sub-folders. Renaming INBOX moves
// its messages into a new folder and leaves INBOX empty (RFC 3501 6.3.5).
func (s *Store) RenameFolder(ctx context.Context, partnerID, from, to string) error {
	from, err := NormalizeFolder(from)
	if err != nil {
		return err
	}
	if to, err = NormalizeFolder(to); err != nil {
		return err
	}
	if to == store.MailInbox || strings.HasPrefix(to, from+Delim) {
		return fmt.Errorf("%w: cannot rename %q to %q", ErrBadFolderName, from, to)
	}
	if _, err := s.DB.MailFolder(ctx, partnerID, to); err == nil {
		return fmt.Errorf("%w: %q", ErrFolderExists, to)
	}
	if parts := strings.Split(to, Delim); len(parts) > 1 {
		for i := 1; i < len(parts); i++ {
			if _, err := s.DB.EnsureMailFolder(ctx, partnerID, strings.Join(parts[:i], Delim)); err != nil {
				return fmt.Errorf("mailbox: rename: %w", err)
			}
		}
	}
	if from == store.MailInbox {
		inbox, err := s.Folder(ctx, partnerID, store.MailInbox)
		if err != nil {
			return err
		}
		dst, err := s.DB.CreateMailFolder(ctx, partnerID, to, true)
		if err != nil {
			return fmt.Errorf("mailbox: rename INBOX: %w", err)
		}
		uids, err := s.DB.MailUIDs(ctx, inbox.ID)
		if err != nil {
			return fmt.Errorf("mailbox: rename INBOX: %w", err)
		}
		if _, _, err := s.DB.CopyMailMessages(ctx, inbox.ID, uids, dst.ID, true); err != nil {
			return fmt.Errorf("mailbox: rename INBOX: %w", err)
		}
		s.notify(inbox.ID)
		return nil
	}
	err = s.DB.RenameMailFolder(ctx, partnerID, from, to, Delim)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %q", ErrNoSuchFolder, from)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%w: %q", ErrFolderExists, to)
	case err != nil:
		return fmt.Errorf("mailbox: rename %q: %w", from, err)
	}
	return nil
}

// Expunge removes messages of a folder: those with the given UIDs (all
// when uids is nil) that carry \Deleted if onlyDeleted. It returns the
// UIDs removed.
func (s *Store) Expunge(ctx context.Context, folderID string, uids []int64, onlyDeleted bool) ([]int64, error) {
	removed, blobs, err := s.DB.DeleteMailMessages(ctx, folderID, uids, onlyDeleted)
	if err != nil {
		return nil, fmt.Errorf("mailbox: expunge: %w", err)
	}
	if len(removed) > 0 {
		s.notify(folderID)
		s.collect(blobs)
	}
	return removed, nil
}

// ExpungeHeld removes the messages of a folder with the given UIDs in one
// transaction, if holder still holds the folder's maildrop lock (which it
// renews for ttl): a POP3 session's deletions at QUIT, all or none.
func (s *Store) ExpungeHeld(ctx context.Context, folderID, holder string, ttl time.Duration, uids []int64) error {
	var blobs []string
	err := s.DB.Tx(ctx, func(tx *store.Store) error {
		if err := tx.RenewMailLock(ctx, folderID, holder, ttl); err != nil {
			return fmt.Errorf("maildrop lock lost: %w", err)
		}
		var err error
		_, blobs, err = tx.DeleteMailMessages(ctx, folderID, uids, false)
		return err
	})
	if err != nil {
		return err
	}
	s.notify(folderID)
	s.collect(blobs)
	return nil
}

// Copy copies (or moves) messages between folders of one partner, sharing
// their blobs. It returns the source UIDs and the new UIDs.
func (s *Store) Copy(ctx context.Context, fromID string, uids []int64, toID string, move bool) (src, dst []int64, err error) {
	src, dst, err = s.DB.CopyMailMessages(ctx, fromID, uids, toID, move)
	if err != nil {
		return nil, nil, fmt.Errorf("mailbox: copy: %w", err)
	}
	s.notify(toID)
	if move {
		s.notify(fromID)
	}
	return src, dst, nil
}

// SetFlags changes flags and returns the messages as they are afterwards.
func (s *Store) SetFlags(ctx context.Context, folderID string, uids []int64, op store.FlagOp, flags []string) ([]store.MailMessage, error) {
	out, err := s.DB.UpdateMailFlags(ctx, folderID, uids, op, flags)
	if err != nil {
		return nil, fmt.Errorf("mailbox: store flags: %w", err)
	}
	s.notify(folderID)
	return out, nil
}
