package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/ferryhq/ferry/store"
)

// ErrOutsideRefused refuses a recipient outside Ferry whose domain the
// operator has not named (FERRY_MAIL_OUTBOUND_DOMAINS): Ferry is never an
// open relay.
var ErrOutsideRefused = errors.New("mailbox: mail to that domain is not allowed")

// SentFolder is where the portal keeps a copy of what a partner sends.
const SentFolder = "Sent"

// Outbound takes mail a partner sends outside Ferry: the durable outbox
// (notify.Outbox.QueueMail), which relays it with retries.
type Outbound interface {
	QueueMail(ctx context.Context, partnerID, from string, rcpts []string, raw []byte) error
}

// Submission is the one rule of mail a partner sends, whatever front end
// it came through (authenticated SMTP, the portal): to partner mailboxes
// of a local domain, delivered at once; to the outside domains the
// operator allows, queued in the outbox; to anything else, refused.
type Submission struct {
	Store *Store
	// LocalDomains are the domains of partner mailboxes (FERRY_MAIL_DOMAIN).
	LocalDomains []string
	// OutboundDomains are the outside domains partners may write to
	// (FERRY_MAIL_OUTBOUND_DOMAINS); empty: none.
	OutboundDomains []string
	// Outbound queues outside mail; nil: outside mail is refused.
	Outbound Outbound
}

// Route is where one recipient's copy goes.
type Route struct {
	Addr      string
	PartnerID string // a partner mailbox; "" for outside mail
}

// Outside reports a recipient outside Ferry.
func (r Route) Outside() bool { return r.PartnerID == "" }

func domainIn(domain string, list []string) bool {
	for _, d := range list {
		if strings.EqualFold(strings.TrimSpace(d), domain) {
			return true
		}
	}
	return false
}

// IsLocal reports whether domain is one of the partner mailboxes'.
func (s *Submission) IsLocal(domain string) bool { return domainIn(domain, s.LocalDomains) }

// Route decides where mail to addr goes: ErrNoSuchMailbox for an unknown
// partner of a local domain, ErrOutsideRefused for a domain not allowed.
func (s *Submission) Route(ctx context.Context, addr string) (Route, error) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return Route{}, fmt.Errorf("%w: %q is no address", ErrOutsideRefused, addr)
	}
	local, domain := addr[:at], addr[at+1:]
	if s.IsLocal(domain) {
		id, err := s.Store.PartnerID(ctx, local)
		if err != nil {
			return Route{}, err
		}
		return Route{Addr: addr, PartnerID: id}, nil
	}
	if s.Outbound == nil || !domainIn(domain, s.OutboundDomains) {
		return Route{}, fmt.Errorf("%w: %s", ErrOutsideRefused, domain)
	}
	return Route{Addr: addr}, nil
}

// Submit sends raw from partnerID to routes (from Route): partner
// mailboxes get it in their INBOX at once, outside recipients through
// Outbound. With sentCopy the sender's Sent folder (made if missing)
// keeps a copy, marked read. A failure after the local delivery leaves
// what was delivered; the error says what failed.
func (s *Submission) Submit(ctx context.Context, partnerID, from string, routes []Route, raw []byte, sentCopy bool) error {
	var local []Recipient
	var outside []string
	for _, r := range routes {
		if r.Outside() {
			outside = append(outside, r.Addr)
		} else {
			local = append(local, Recipient{PartnerID: r.PartnerID})
		}
	}
	if len(local) > 0 {
		if _, err := s.Store.DeliverTo(ctx, local, bytes.NewReader(raw), DeliverOptions{}); err != nil {
			return fmt.Errorf("mailbox: submit: %w", err)
		}
	}
	if len(outside) > 0 {
		if s.Outbound == nil {
			return ErrOutsideRefused
		}
		if err := s.Outbound.QueueMail(ctx, partnerID, from, outside, raw); err != nil {
			return fmt.Errorf("mailbox: submit: %w", err)
		}
	}
	if sentCopy {
		if err := s.Store.CreateFolder(ctx, partnerID, SentFolder); err != nil && !errors.Is(err, ErrFolderExists) {
			return fmt.Errorf("mailbox: sent copy: %w", err)
		}
		if _, err := s.Store.DeliverTo(ctx, []Recipient{{PartnerID: partnerID, Folder: SentFolder}}, bytes.NewReader(raw),
			DeliverOptions{Flags: []string{`\Seen`}}); err != nil {
			return fmt.Errorf("mailbox: sent copy: %w", err)
		}
	}
	return nil
}

// Address is a partner mailbox's address in the first local domain.
func (s *Submission) Address(p *store.Partner) string {
	d := "ferry.localhost"
	if len(s.LocalDomains) > 0 {
		d = s.LocalDomains[0]
	}
	return (&mail.Address{Name: p.Name, Address: p.Slug + "@" + d}).String()
}
