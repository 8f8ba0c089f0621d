// Package expect is Ferry's expected deliveries: per partner, files that
// must arrive (a folder, a file name pattern, how many) by each deadline of
// a schedule in a time zone, with a grace period. The Evaluator judges
// each deadline once, whichever node gets there first and however late
// (a deadline that passed while every node was down is judged when one
// comes back), records the outcome (met, late, missed) and queues the
// alerts of a miss and of a late delivery after a miss through the
// notification outbox, in the transaction that records it. Service holds
// the rules of creating and changing expectations, which the API, the CLI
// and the web admin share.
package expect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// ErrNotFound is returned for an unknown expectation (or one of another
// partner).
var ErrNotFound = errors.New("expect: no such expectation")

// Input is an expectation as an administrator sets it. On update, nil
// fields stay as they are.
type Input struct {
	Name           *string
	Folder         *string
	Pattern        *string
	Count          *int
	Schedule       *string // cron (five fields) or "every weekday by 06:00"
	TimeZone       *string // IANA name
	Grace          *string // a Go duration ("30m"); "" or "0s": none
	NotifyContacts *bool
	NotifyEmails   []string // operator addresses; nil: unchanged
	NotifyWebhooks *bool
	Enabled        *bool
}

// Service creates, changes and lists expectations. Set Store.
type Service struct {
	Store *store.Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Grace returns an expectation's grace period.
func Grace(x *store.Expectation) time.Duration { return time.Duration(x.GraceSeconds) * time.Second }

// Emails returns an expectation's operator addresses.
func Emails(x *store.Expectation) []string {
	var out []string
	for _, e := range strings.Split(x.NotifyEmails, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// apply checks in and applies it to x.
func apply(x *store.Expectation, in Input) error {
	var v partners.ValidationError
	bad := func(field, msg string) { v.Fields = append(v.Fields, partners.FieldError{Field: field, Message: msg}) }
	if in.Name != nil {
		x.Name = strings.TrimSpace(*in.Name)
		if len(x.Name) > 200 {
			bad("name", "at most 200 characters")
		}
	}
	if in.Folder != nil {
		x.Folder = CleanFolder(*in.Folder)
	}
	if in.Pattern != nil {
		x.Pattern = strings.TrimSpace(*in.Pattern)
		if err := CheckPattern(x.Pattern); err != nil {
			bad("pattern", err.Error())
		}
	}
	if in.Count != nil {
		x.FileCount = *in.Count
		if x.FileCount < 1 || x.FileCount > 100000 {
			bad("count", "must be a whole number from 1 to 100000")
		}
	}
	if in.Schedule != nil {
		x.Schedule = strings.Join(strings.Fields(*in.Schedule), " ")
	}
	if in.TimeZone != nil {
		x.TimeZone = strings.TrimSpace(*in.TimeZone)
		if _, err := LoadZone(x.TimeZone); err != nil {
			bad("time_zone", err.Error())
		}
	}
	if in.Schedule != nil {
		if _, err := CronSpec(x.Schedule); err != nil {
			bad("schedule", err.Error())
		} else if _, err := ParseSchedule(x.Schedule, "UTC"); err != nil {
			bad("schedule", err.Error())
		}
	}
	if in.Grace != nil {
		g := strings.TrimSpace(*in.Grace)
		d := time.Duration(0)
		if g != "" {
			var err error
			d, err = time.ParseDuration(g)
			if err != nil || d < 0 || d > 7*24*time.Hour || d%time.Second != 0 {
				bad("grace", fmt.Sprintf("%q is not a duration like 30m or 2h (whole seconds, at most 168h)", g))
			}
		}
		x.GraceSeconds = int64(d / time.Second)
	}
	if in.NotifyContacts != nil {
		x.NotifyContacts = *in.NotifyContacts
	}
	if in.NotifyEmails != nil {
		var list []string
		for _, e := range in.NotifyEmails {
			a, err := partners.ParseEmail(e)
			if err != nil {
				bad("notify_emails", err.Error())
				continue
			}
			list = append(list, a)
		}
		x.NotifyEmails = strings.Join(list, ",")
	}
	if in.NotifyWebhooks != nil {
		x.NotifyWebhooks = *in.NotifyWebhooks
	}
	if in.Enabled != nil {
		x.Enabled = *in.Enabled
	}
	if len(v.Fields) > 0 {
		return &v
	}
	return nil
}

// Create checks and stores a new expectation of partnerID. Folder,
// pattern, schedule and time zone are required; count defaults to 1; the
// partner's contacts and webhooks are told unless in says otherwise. Its
// first window opens now.
func (s *Service) Create(ctx context.Context, partnerID string, in Input) (*store.Expectation, error) {
	x := &store.Expectation{PartnerID: partnerID, FileCount: 1, NotifyContacts: true, NotifyWebhooks: true, Enabled: true,
		StartsAt: s.now()}
	var v partners.ValidationError
	for field, missing := range map[string]bool{"folder": in.Folder == nil, "pattern": in.Pattern == nil,
		"schedule": in.Schedule == nil, "time_zone": in.TimeZone == nil} {
		if missing {
			v.Fields = append(v.Fields, partners.FieldError{Field: field, Message: "required"})
		}
	}
	if err := apply(x, in); err != nil {
		var ve *partners.ValidationError
		if !errors.As(err, &ve) {
			return nil, err
		}
		v.Fields = append(v.Fields, ve.Fields...)
	}
	if len(v.Fields) > 0 {
		sortFields(v.Fields)
		return nil, &v
	}
	if err := s.Store.CreateExpectation(ctx, x); err != nil {
		return nil, err
	}
	return x, nil
}

func sortFields(f []partners.FieldError) {
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && f[j].Field < f[j-1].Field; j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
}

// Get returns partnerID's expectation id.
func (s *Service) Get(ctx context.Context, partnerID, id string) (*store.Expectation, error) {
	x, err := s.Store.ExpectationByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && x.PartnerID != partnerID) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return x, err
}

// Update changes the fields in sets.
func (s *Service) Update(ctx context.Context, partnerID, id string, in Input) (*store.Expectation, error) {
	x, err := s.Get(ctx, partnerID, id)
	if err != nil {
		return nil, err
	}
	if err := apply(x, in); err != nil {
		return nil, err
	}
	if err := s.Store.UpdateExpectation(ctx, x); err != nil {
		return nil, err
	}
	return x, nil
}

// Delete deletes an expectation and its evaluations.
func (s *Service) Delete(ctx context.Context, partnerID, id string) error {
	if _, err := s.Get(ctx, partnerID, id); err != nil {
		return err
	}
	return s.Store.DeleteExpectation(ctx, id)
}

// List returns a partner's expectations.
func (s *Service) List(ctx context.Context, partnerID string) ([]store.Expectation, error) {
	return s.Store.ListExpectations(ctx, partnerID)
}
