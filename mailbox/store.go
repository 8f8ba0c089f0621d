// Package mailbox is Ferry's partner mailbox store, shared by the SMTP,
// IMAP and POP3 front ends (mailbox/smtp, mailbox/imap, mailbox/pop3) and
// the notifier. Every partner has a mailbox <slug>@<mail domain>.
//
// Metadata (folders, UIDs, flags, a copy of each header) lives in the
// database; each message body is an immutable blob file under Dir. A
// delivery writes and fsyncs the blob, then inserts the rows and allocates
// the UIDs in one transaction; only then is it acknowledged. A crash in
// between leaves at most a blob without rows, which Sweep removes.
package mailbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/store"
)

// Errors the front ends map to protocol replies.
var (
	ErrNoSuchMailbox = errors.New("mailbox: no such partner mailbox")
	ErrNoSuchFolder  = errors.New("mailbox: no such folder")
	ErrFolderExists  = errors.New("mailbox: folder already exists")
	ErrBadFolderName = errors.New("mailbox: invalid folder name")
	ErrNoSuchMessage = errors.New("mailbox: no such message")
	ErrLocked        = errors.New("mailbox: maildrop is locked by another session")
	ErrTooBig        = errors.New("mailbox: message too big")
	// ErrOverQuota: the message would take a partner's mailbox past its
	// quota (errors.As finds a *store.MailQuotaError naming the partners).
	ErrOverQuota = store.ErrMailQuota
)

// Delim separates the levels of a folder name.
const Delim = "/"

// Store is the mailbox store. Set DB and Dir; the zero value of the rest
// is useful. It is safe for concurrent use.
type Store struct {
	DB  *store.Store
	Dir string // blob files: <data dir>/mail, outside every partner's FTP tree
	// MaxMessageBytes bounds a stored message (0: unlimited).
	MaxMessageBytes int64
	Logger          *slog.Logger
	// OnReceived, if set, is told of each copy of a message that arrived
	// from outside (DeliverOptions.Received: inbound SMTP), after it is
	// committed: the webhook event mail.received. Not of alert copies or
	// IMAP APPEND. An error is logged.
	OnReceived func(ctx context.Context, m *store.MailMessage) error
	// Verifier checks signed mail (PGP/MIME, S/MIME) on delivery against
	// the sender's registered keys (mailsec.Registry); the result is kept
	// with the message. nil: not checked.
	Verifier Verifier

	mu       sync.Mutex
	watchers map[string]map[chan struct{}]struct{}
	dirs     map[string]bool // blob folders known to exist (blobDir)
}

func (s *Store) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Verifier checks the signature of a message from the sender address.
type Verifier interface {
	VerifyMail(ctx context.Context, raw []byte, from string) (mailsec.Verification, error)
}

var _ Verifier = (*mailsec.Registry)(nil)

// verify checks a stored message's signature. A failure to check (not a
// bad signature) is logged and leaves the message unchecked: mail is
// never refused for it.
func (s *Store) verify(ctx context.Context, key string, header []byte) (status, signer string) {
	if s.Verifier == nil || !bytes.Contains(bytes.ToLower(header), []byte("multipart/signed")) {
		return "", ""
	}
	f, err := s.openBlob(key)
	if err != nil {
		s.log().Warn("mailbox: signature not checked", "blob", key, "err", err)
		return "", ""
	}
	defer f.Close()
	raw, err := io.ReadAll(f)
	if err != nil {
		s.log().Warn("mailbox: signature not checked", "blob", key, "err", err)
		return "", ""
	}
	from := ""
	if th, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(header))); err == nil {
		if list, err := (&mail.Header{Header: message.Header{Header: th}}).AddressList("From"); err == nil && len(list) > 0 {
			from = list[0].Address
		}
	}
	v, err := s.Verifier.VerifyMail(ctx, raw, from)
	if err != nil {
		s.log().Warn("mailbox: signature not checked", "blob", key, "err", err)
		return "", ""
	}
	if v.Status != mailsec.SigNone {
		s.log().Info("mailbox: signed message", "from", from, "kind", v.Kind, "signature", v.Status, "signer", v.Signer, "detail", v.Detail)
	}
	return v.Status, clean(v.Signer, 400)
}

// Recipient is where one copy of a delivered message goes.
type Recipient struct {
	PartnerID string
	Folder    string // "" means INBOX
	// Resolved is the folder when the caller has just looked it up (IMAP
	// APPEND): DeliverTo then does not look it up again. Its ID and
	// PartnerID are used.
	Resolved *store.MailFolder
}

// DeliverOptions adds to a delivery.
type DeliverOptions struct {
	Flags []string  // initial flags (APPEND)
	Date  time.Time // internal date; zero means now
	// Trace is prepended to the stored message (Return-Path and Received
	// lines of an SMTP delivery); it must end with CRLF.
	Trace []byte
	// Received marks mail that arrived from outside (inbound SMTP), which
	// Store.OnReceived is told of.
	Received bool
}

// Delivered tells where a message was stored.
type Delivered struct {
	Blob     string
	Size     int64
	Messages []store.MailMessage // one per recipient, with UID and folder
}

// Deliver stores raw (an RFC 5322 message) in the INBOX of one partner,
// named by slug or ID: the notifier's entry point.
func (s *Store) Deliver(ctx context.Context, partner string, raw []byte) (*Delivered, error) {
	id, err := s.PartnerID(ctx, partner)
	if err != nil {
		return nil, err
	}
	return s.DeliverTo(ctx, []Recipient{{PartnerID: id}}, bytes.NewReader(raw), DeliverOptions{})
}

// CheckQuota reports ErrOverQuota if a message of size bytes (0: unknown,
// counted as 1) would not fit in the partner's mailbox now. It is an early
// answer (SMTP RCPT with a SIZE); DeliverTo checks again exactly.
func (s *Store) CheckQuota(ctx context.Context, partnerID string, size int64) error {
	quota, used, err := s.DB.MailQuota(ctx, partnerID)
	if err != nil {
		return fmt.Errorf("mailbox: quota of %s: %w", partnerID, err)
	}
	if quota > 0 && used+max(size, 1) > quota {
		return &store.MailQuotaError{PartnerIDs: []string{partnerID}}
	}
	return nil
}

// Quota returns a partner's mailbox quota in bytes (0: unlimited) and the
// bytes its messages use (a copy in two folders counts twice).
func (s *Store) Quota(ctx context.Context, partnerID string) (quota, used int64, err error) {
	quota, used, err = s.DB.MailQuota(ctx, partnerID)
	if err != nil {
		return 0, 0, fmt.Errorf("mailbox: quota of %s: %w", partnerID, err)
	}
	return quota, used, nil
}

// PartnerID returns the ID of the enabled partner named by slug
// (case-insensitive) or ID.
func (s *Store) PartnerID(ctx context.Context, slugOrID string) (string, error) {
	lower := strings.ToLower(slugOrID)
	id, err := s.DB.EnabledPartnerID(ctx, lower)
	if errors.Is(err, store.ErrNotFound) && lower != slugOrID {
		id, err = s.DB.EnabledPartnerID(ctx, slugOrID) // an ID as given
	}
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("%w: %q", ErrNoSuchMailbox, slugOrID)
	}
	if err != nil {
		return "", fmt.Errorf("mailbox: look up partner %q: %w", slugOrID, err)
	}
	return id, nil
}

// DeliverTo stores the message read from r once, as a durable blob, and
// records it in every recipient's folder in one transaction. When it
// returns nil the message is committed; on error nothing is recorded. If
// the message would take any recipient's mailbox past its quota, nothing
// is stored and the error matches ErrOverQuota (errors.As gives the
// *store.MailQuotaError naming those partners).
// Line endings are stored as CRLF.
func (s *Store) DeliverTo(ctx context.Context, rcpts []Recipient, r io.Reader, opts DeliverOptions) (*Delivered, error) {
	if len(rcpts) == 0 {
		return nil, errors.New("mailbox: no recipients")
	}
	folders := make([]*store.MailFolder, len(rcpts))
	for i, rc := range rcpts {
		if rc.Resolved != nil {
			folders[i] = rc.Resolved
			continue
		}
		name := rc.Folder
		if name == "" {
			name = store.MailInbox
		}
		var f *store.MailFolder
		var err error
		if name == store.MailInbox {
			f, err = s.DB.EnsureMailFolder(ctx, rc.PartnerID, name)
		} else {
			f, err = s.DB.MailFolder(ctx, rc.PartnerID, name)
			if errors.Is(err, store.ErrNotFound) {
				err = fmt.Errorf("%w: %q", ErrNoSuchFolder, name)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("mailbox: deliver: %w", err)
		}
		folders[i] = f
	}

	if len(opts.Trace) > 0 {
		r = io.MultiReader(bytes.NewReader(opts.Trace), r)
	}
	key := store.NewID()
	size, header, err := s.writeBlob(ctx, key, r)
	if err != nil {
		return nil, err
	}
	date := opts.Date
	if date.IsZero() {
		date = time.Now()
	}
	meta := parseHeader(header)
	sigStatus, signer := s.verify(ctx, key, header)
	flags := strings.Join(store.ApplyFlags(nil, store.FlagsSet, opts.Flags), " ")
	msgs := make([]store.MailMessage, 0, len(folders))
	seen := map[string]bool{}
	for _, f := range folders {
		if seen[f.ID] {
			continue
		}
		seen[f.ID] = true
		msgs = append(msgs, store.MailMessage{
			PartnerID: f.PartnerID, FolderID: f.ID, Flags: flags, InternalDate: date.Truncate(time.Second),
			Size: size, Header: header, Subject: meta.subject, FromAddr: meta.from, ToAddr: meta.to,
			MessageID: meta.messageID, SentAt: meta.date, Signature: sigStatus, Signer: signer,
		})
	}
	// A failed transaction leaves the blob without rows: Sweep removes it.
	// It is not removed here, because a commit that reported an error may
	// still have happened.
	if err := s.DB.InsertMailMessages(ctx, store.MailBlob{Key: key, Size: size}, msgs); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			// A resolved folder deleted meanwhile; nothing committed.
			if rerr := s.removeBlob(key); rerr != nil {
				s.log().Warn("mailbox: remove blob", "blob", key, "err", rerr)
			}
			return nil, fmt.Errorf("%w: %w", ErrNoSuchFolder, err)
		}
		if errors.Is(err, ErrOverQuota) {
			// Refused inside the transaction, so surely not committed.
			if rerr := s.removeBlob(key); rerr != nil {
				s.log().Warn("mailbox: remove blob", "blob", key, "err", rerr)
			}
		}
		return nil, fmt.Errorf("mailbox: record message: %w", err)
	}
	for _, f := range folders {
		s.notify(f.ID)
	}
	if opts.Received && s.OnReceived != nil {
		for i := range msgs {
			if err := s.OnReceived(ctx, &msgs[i]); err != nil {
				s.log().Error("mailbox: received hook", "partner", msgs[i].PartnerID, "err", err)
			}
		}
	}
	return &Delivered{Blob: key, Size: size, Messages: msgs}, nil
}

// Open returns the stored bytes of a message.
func (s *Store) Open(m *store.MailMessage) (io.ReadCloser, error) {
	f, err := s.openBlob(m.BlobKey)
	if err != nil {
		return nil, fmt.Errorf("mailbox: open message %d: %w", m.UID, err)
	}
	return f, nil
}

// Watch returns a channel that receives a value (coalesced) whenever this
// process changes the folder; stop unregisters it. Other nodes' changes
// are only seen by reading the database.
func (s *Store) Watch(folderID string) (ch <-chan struct{}, stop func()) {
	c := make(chan struct{}, 1)
	s.mu.Lock()
	if s.watchers == nil {
		s.watchers = map[string]map[chan struct{}]struct{}{}
	}
	if s.watchers[folderID] == nil {
		s.watchers[folderID] = map[chan struct{}]struct{}{}
	}
	s.watchers[folderID][c] = struct{}{}
	s.mu.Unlock()
	return c, func() {
		s.mu.Lock()
		delete(s.watchers[folderID], c)
		if len(s.watchers[folderID]) == 0 {
			delete(s.watchers, folderID)
		}
		s.mu.Unlock()
	}
}

func (s *Store) notify(folderID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.watchers[folderID] {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// Changed tells local watchers that a folder changed (front ends call it
// after changing a folder through DB directly).
func (s *Store) Changed(folderID string) { s.notify(folderID) }

// collect offers blobs that may have lost their last message to the
// database and removes the files of those that did.
func (s *Store) collect(blobs []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, key := range blobs {
		gone, err := s.DB.DeleteMailBlob(ctx, key)
		if err != nil {
			s.log().Warn("mailbox: collect blob", "blob", key, "err", err)
			continue
		}
		if gone {
			if err := s.removeBlob(key); err != nil {
				s.log().Warn("mailbox: remove blob", "blob", key, "err", err)
			}
		}
	}
}
