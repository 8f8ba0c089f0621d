package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ferryhq/ferry/store"
)

// Outcomes an expectation alert reports.
const (
	OutcomeMissed       = "missed"        // the files did not come by the deadline and its grace
	OutcomeLate         = "late"          // they came after the deadline, within the grace (webhook only)
	OutcomeLateDelivery = "late_delivery" // a file came after a miss
)

// ExpectationPayload is the content of an expectation alert: the payload
// of its mail and the data of its webhook event.
type ExpectationPayload struct {
	ExpectationID string    `json:"expectation_id"`
	Name          string    `json:"name,omitempty"`
	Folder        string    `json:"folder"`
	Pattern       string    `json:"pattern"`
	Count         int       `json:"count"`
	Schedule      string    `json:"schedule"`
	TimeZone      string    `json:"time_zone"`
	Grace         string    `json:"grace"`
	Deadline      time.Time `json:"deadline"`
	// DeadlineLocal is the deadline in the expectation's time zone, as
	// people there read it ("2026-03-30 06:00 CEST").
	DeadlineLocal string     `json:"deadline_local"`
	WindowStart   time.Time  `json:"window_start"`
	Outcome       string     `json:"outcome"` // missed, late, late_delivery
	Files         int        `json:"files"`   // matching files in the window (by the grace's end)
	LatePath      string     `json:"late_path,omitempty"`
	LateAt        *time.Time `json:"late_at,omitempty"`
	// Contacts: the partner's contacts (and subscribers and mailbox) are
	// told; Emails: operator addresses told besides.
	Contacts bool     `json:"notify_contacts"`
	Emails   []string `json:"notify_emails,omitempty"`
}

// ExpectationInfo is an expectation alert as the templates see it.
type ExpectationInfo struct {
	Name, Folder, Pattern, Schedule, TimeZone, Grace string
	Count, Files                                     int
	Outcome                                          string // missed or late_delivery
	DeadlineText                                     string // in the expectation's time zone
	LatePath, LateText                               string
}

// OnExpectation queues the alerts of an expectation's evaluation on tx,
// the transaction that records it: for a miss or a late delivery, a mail
// to the recipients the payload names (none named: no mail); with
// webhooks, the event expectation.missed or expectation.late.
func (o *Outbox) OnExpectation(ctx context.Context, tx *store.Store, partnerID string, p ExpectationPayload, webhooks bool) error {
	if (p.Outcome == OutcomeMissed || p.Outcome == OutcomeLateDelivery) && (p.Contacts || len(p.Emails) > 0) {
		if _, err := o.insert(ctx, tx, partnerID, store.NotifyKindExpectation, p, time.Now()); err != nil {
			return err
		}
		o.poke()
	}
	if !webhooks {
		return nil
	}
	event := EventExpectationLate
	if p.Outcome == OutcomeMissed {
		event = EventExpectationMissed
	}
	return o.Event(ctx, tx, event, partnerID, p)
}

func expectationInfo(p ExpectationPayload) *ExpectationInfo {
	e := &ExpectationInfo{Name: safe(p.Name), Folder: safe(p.Folder), Pattern: safe(p.Pattern), Schedule: safe(p.Schedule),
		TimeZone: safe(p.TimeZone), Grace: safe(p.Grace), Count: p.Count, Files: p.Files, Outcome: p.Outcome,
		DeadlineText: safe(p.DeadlineLocal), LatePath: safe(p.LatePath)}
	if p.LateAt != nil {
		e.LateText = timeText(*p.LateAt)
	}
	return e
}

func decodeExpectation(n store.Notification) (ExpectationPayload, error) {
	var p ExpectationPayload
	if err := json.Unmarshal([]byte(n.Payload), &p); err != nil {
		return p, fmt.Errorf("payload of %s: %w", n.ID, err)
	}
	p.Emails = slicesClean(p.Emails)
	return p, nil
}

func slicesClean(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
