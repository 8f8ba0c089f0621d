package mailbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferryhq/ferry/store"
)

// FolderSummary is one folder as the admin API lists it.
type FolderSummary struct {
	Name        string `json:"name"`
	Messages    int64  `json:"messages"`
	Unseen      int64  `json:"unseen"`
	Bytes       int64  `json:"bytes"`
	UIDValidity int64  `json:"uid_validity"`
	UIDNext     int64  `json:"uid_next"`
	Subscribed  bool   `json:"subscribed"`
}

// Summary lists a partner's folders with message counts and sizes (GET
// /api/v1/partners/{id}/mailbox).
func (s *Store) Summary(ctx context.Context, partnerID string) ([]FolderSummary, error) {
	folders, err := s.Folders(ctx, partnerID)
	if err != nil {
		return nil, err
	}
	stats, err := s.DB.MailFolderStats(ctx, partnerID)
	if err != nil {
		return nil, fmt.Errorf("mailbox: summary: %w", err)
	}
	out := make([]FolderSummary, 0, len(folders))
	for _, f := range folders {
		st := stats[f.ID]
		out = append(out, FolderSummary{Name: f.Name, Messages: st.Messages, Unseen: st.Unseen, Bytes: st.Bytes,
			UIDValidity: f.UIDValidity, UIDNext: f.UIDNext, Subscribed: f.Subscribed})
	}
	return out, nil
}

// MessageSummary is one message as the admin API lists it.
type MessageSummary struct {
	ID           string     `json:"id"`
	Folder       string     `json:"folder"`
	UID          int64      `json:"uid"`
	Subject      string     `json:"subject"`
	From         string     `json:"from"`
	To           string     `json:"to"`
	MessageID    string     `json:"message_id"`
	Date         *time.Time `json:"date,omitempty"`
	InternalDate time.Time  `json:"internal_date"`
	Size         int64      `json:"size"`
	Flags        []string   `json:"flags"`
	// Signature and Signer are the signature check made on delivery
	// (mailsec: "" when not signed).
	Signature string `json:"signature,omitempty"`
	Signer    string `json:"signer,omitempty"`
}

// MessagePage lists up to limit messages of a folder, newest first, with
// UIDs below before (0: from the newest); pass the last UID of a page as
// before to get the next (GET .../mailbox/messages).
func (s *Store) MessagePage(ctx context.Context, partnerID, folder string, before int64, limit int) ([]MessageSummary, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	f, err := s.Folder(ctx, partnerID, folder)
	if err != nil {
		return nil, err
	}
	msgs, err := s.DB.MailPage(ctx, f.ID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("mailbox: list messages: %w", err)
	}
	out := make([]MessageSummary, 0, len(msgs))
	for _, m := range msgs {
		flags := m.FlagList()
		if flags == nil {
			flags = []string{}
		}
		out = append(out, MessageSummary{ID: m.ID, Folder: f.Name, UID: m.UID, Subject: m.Subject, From: m.FromAddr,
			To: m.ToAddr, MessageID: m.MessageID, Date: m.SentAt, InternalDate: m.InternalDate, Size: m.Size, Flags: flags,
			Signature: m.Signature, Signer: m.Signer})
	}
	return out, nil
}

// DeleteMessage removes one message of a partner by its ID (DELETE
// .../mailbox/messages/{id}); ErrNoSuchMessage if there is none.
func (s *Store) DeleteMessage(ctx context.Context, partnerID, id string) error {
	m, err := s.DB.MailMessageByID(ctx, partnerID, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrNoSuchMessage, id)
	}
	if err != nil {
		return fmt.Errorf("mailbox: delete message: %w", err)
	}
	removed, err := s.Expunge(ctx, m.FolderID, []int64{m.UID}, false)
	if err != nil {
		return err
	}
	if len(removed) == 0 {
		return fmt.Errorf("%w: %q", ErrNoSuchMessage, id)
	}
	return nil
}
