package expect_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/expect"
	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// env is a database with partner acme (one contact), an outbox, a webhook
// for the expectation events and a clock the evaluators read.
type env struct {
	t       *testing.T
	url     string
	sqlite  string
	st      *store.Store
	svc     *expect.Service
	outbox  *notify.Outbox
	partner *store.Partner
	mu      sync.Mutex
	now     time.Time
}

func newEnv(t *testing.T, b storetest.Backend) *env {
	e := &env{t: t}
	e.url, e.sqlite = b.Open(t)
	e.st = e.open()
	ps := &partners.Service{Store: e.st, FilesDir: t.TempDir(), Hash: password.Params{Memory: 1024, Time: 1, Threads: 1}}
	var err error
	e.partner, err = ps.CreatePartner(context.Background(), partners.PartnerInput{Slug: "acme", Name: "ACME Corp",
		Contacts: []string{"ops@acme.example"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	e.outbox = &notify.Outbox{Store: e.st, Domain: "ferry.test"}
	if err := e.st.CreateWebhook(context.Background(), &store.Webhook{URL: "https://hooks.invalid/", Secret: "0123456789abcdef",
		Events: "expectation.missed,expectation.late", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	e.svc = &expect.Service{Store: e.st, Now: e.clock}
	return e
}

// open is another handle on the database: another node.
func (e *env) open() *store.Store {
	s, err := store.Open(context.Background(), e.url, store.Options{SQLitePath: e.sqlite, Migrate: true})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) set(t time.Time) {
	e.mu.Lock()
	e.now = t
	e.mu.Unlock()
}

// evaluator is a node's evaluator on st.
func (e *env) evaluator(st *store.Store) *expect.Evaluator {
	return &expect.Evaluator{Store: st, Outbox: &notify.Outbox{Store: st, Domain: "ferry.test"}, Now: e.clock}
}

func (e *env) run(v *expect.Evaluator, at time.Time) int {
	e.t.Helper()
	e.set(at)
	n, err := v.RunOnce(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// arrive records a finished upload of p at t in the audit log, as the file
// core does when an upload is published.
func (e *env) arrive(p string, at time.Time) {
	e.t.Helper()
	at = at.UTC()
	row := &store.Transfer{PartnerID: &e.partner.ID, Username: "alice", Protocol: "ftp", Operation: store.OpUpload,
		Path: p, FileSize: 1, Bytes: 1, StartedAt: at.Add(-time.Second), FinishedAt: &at, Status: store.StatusOK}
	if err := e.st.RecordTransfer(context.Background(), row); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) create(in map[string]any) *store.Expectation {
	e.t.Helper()
	var x expect.Input
	raw, _ := json.Marshal(in)
	var m struct {
		Folder, Pattern, Schedule, TimeZone, Grace *string
		Count                                      *int
		Contacts                                   *bool
		Emails                                     []string
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		e.t.Fatal(err)
	}
	x.Folder, x.Pattern, x.Schedule, x.TimeZone, x.Grace, x.Count = m.Folder, m.Pattern, m.Schedule, m.TimeZone, m.Grace, m.Count
	x.NotifyContacts, x.NotifyEmails = m.Contacts, m.Emails
	got, err := e.svc.Create(context.Background(), e.partner.ID, x)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

func (e *env) evaluations(id string) []store.Evaluation {
	e.t.Helper()
	list, err := e.st.ListEvaluations(context.Background(), store.EvaluationFilter{ExpectationID: id})
	if err != nil {
		e.t.Fatal(err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Deadline.Before(list[j].Deadline) })
	return list
}

// alerts returns the outcomes of the expectation mails queued, and the
// webhook events queued, in order.
func (e *env) alerts() (mails, events []string) {
	e.t.Helper()
	ctx := context.Background()
	ns, err := e.st.ListNotifications(ctx, store.NotificationFilter{Kind: store.NotifyKindExpectation})
	if err != nil {
		e.t.Fatal(err)
	}
	for i := len(ns) - 1; i >= 0; i-- {
		var p notify.ExpectationPayload
		if err := json.Unmarshal([]byte(ns[i].Payload), &p); err != nil {
			e.t.Fatal(err)
		}
		mails = append(mails, p.Outcome+"@"+p.Deadline.Format("01-02"))
	}
	ds, err := e.st.ListWebhookDeliveries(ctx, store.WebhookDeliveryFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	for i := len(ds) - 1; i >= 0; i-- {
		var body struct {
			Event string
			Data  notify.ExpectationPayload
		}
		if err := json.Unmarshal([]byte(ds[i].Payload), &body); err != nil {
			e.t.Fatal(err)
		}
		events = append(events, body.Event+":"+body.Data.Outcome+"@"+body.Data.Deadline.Format("01-02"))
	}
	return mails, events
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func outcomes(list []store.Evaluation) string {
	var out []string
	for _, ev := range list {
		s := ev.Deadline.UTC().Format("2006-01-02T15:04Z") + " " + ev.Outcome
		if ev.LateDeliveryAt != nil {
			s += " (late delivery " + ev.LatePath + ")"
		}
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

// "every weekday by 06:00" in Europe/Berlin across the change to summer
// time (Sunday 29 March 2026): the deadline is 05:00 UTC on Friday and
// 04:00 UTC from Monday. Met, late within the grace, missed, a late
// delivery after the miss (which the next window does not count), and a
// catch-up over two deadlines; the alerts are queued once each.
func TestWeekdayBerlinAcrossDST(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			e.set(utc("2026-03-26T12:00:00Z")) // Thursday
			x := e.create(map[string]any{"folder": "in/", "pattern": "*.csv", "count": 1,
				"schedule": "every weekday by 06:00", "timezone": "Europe/Berlin", "grace": "30m"})
			if x.Folder != "/in" {
				t.Fatalf("folder %q", x.Folder)
			}
			v := e.evaluator(e.st)

			e.arrive("/in/pay-0327.csv", utc("2026-03-27T04:50:00Z")) // 05:50 CET
			if n := e.run(v, utc("2026-03-27T04:59:59Z")); n != 0 {
				t.Fatalf("evaluated %d before the deadline", n)
			}
			if n := e.run(v, utc("2026-03-27T05:00:00Z")); n != 1 {
				t.Fatalf("Friday: %d evaluations", n)
			}
			// Monday, summer time: 06:00 CEST is 04:00 UTC. The file comes
			// at 06:20, within the grace: nothing is judged until it ends.
			if n := e.run(v, utc("2026-03-30T04:10:00Z")); n != 0 {
				t.Fatalf("judged during the grace: %d", n)
			}
			e.arrive("/in/pay-0330.csv", utc("2026-03-30T04:20:00Z"))
			e.arrive("/in/readme.txt", utc("2026-03-30T04:21:00Z"))
			if n := e.run(v, utc("2026-03-30T04:30:00Z")); n != 1 {
				t.Fatalf("Monday: %d", n)
			}
			// Tuesday: only files that do not count (wrong folder, wrong
			// name); missed when the grace ends.
			e.arrive("/out/pay-0331.csv", utc("2026-03-31T03:00:00Z"))
			e.arrive("/in/sub/pay-0331.csv", utc("2026-03-31T03:00:00Z"))
			if n := e.run(v, utc("2026-03-31T04:30:00Z")); n != 1 {
				t.Fatalf("Tuesday: %d", n)
			}
			// The file comes at 11:00 CEST: a late delivery, told once.
			e.arrive("/in/pay-0331.csv", utc("2026-03-31T09:00:00Z"))
			if n := e.run(v, utc("2026-03-31T09:01:00Z")); n != 1 {
				t.Fatalf("late delivery: %d", n)
			}
			if n := e.run(v, utc("2026-03-31T09:02:00Z")); n != 0 {
				t.Fatalf("late delivery told again: %d", n)
			}
			// Wednesday counts the late file of Tuesday (it came in its
			// window); Thursday on time; Good Friday nothing: one pass
			// judges the three.
			e.arrive("/in/pay-0402.csv", utc("2026-04-02T03:59:59Z"))
			if n := e.run(v, utc("2026-04-03T05:00:00Z")); n != 3 {
				t.Fatalf("Wednesday to Friday: %d", n)
			}
			want := `2026-03-27T05:00Z met
2026-03-30T04:00Z late
2026-03-31T04:00Z missed (late delivery /in/pay-0331.csv)
2026-04-01T04:00Z met
2026-04-02T04:00Z met
2026-04-03T04:00Z missed`
			if got := outcomes(e.evaluations(x.ID)); got != want {
				t.Fatalf("evaluations:\n%s\nwant:\n%s", got, want)
			}
			mails, events := e.alerts()
			if strings.Join(mails, " ") != "missed@03-31 late_delivery@03-31 missed@04-03" {
				t.Errorf("mails: %v", mails)
			}
			if strings.Join(events, " ") != "expectation.late:late@03-30 expectation.missed:missed@03-31 "+
				"expectation.late:late_delivery@03-31 expectation.missed:missed@04-03" {
				t.Errorf("webhook events: %v", events)
			}

			// The notifier renders the miss into the partner's mailbox.
			mb := &mailbox.Store{DB: e.st, Dir: filepath.Join(t.TempDir(), "mail")}
			n := &notify.Notifier{Outbox: e.outbox, Mailbox: mb, MailDomain: "ferry.test"}
			if _, err := n.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			inbox, err := e.st.MailFolder(context.Background(), e.partner.ID, "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			msgs, err := e.st.MailMessages(context.Background(), inbox.ID)
			if err != nil {
				t.Fatal(err)
			}
			var subjects []string
			for _, m := range msgs {
				subjects = append(subjects, m.Subject)
			}
			joined := strings.Join(subjects, "\n")
			if len(msgs) != 3 || !strings.Contains(joined, "ACME Corp: expected file did not arrive (/in *.csv)") ||
				!strings.Contains(joined, "ACME Corp: late delivery (/in *.csv)") {
				t.Errorf("mailbox: %q", subjects)
			}
		})
	}
}

// A deadline that passed while no node ran is judged when the first node
// comes back (a new process, a new store handle), each once; the node
// that comes next finds nothing left to do.
func TestNodeDownOverDeadlines(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			e.set(utc("2026-06-01T00:00:00Z"))
			x := e.create(map[string]any{"folder": "/", "pattern": "inventory-*.xml", "count": 2,
				"schedule": "30 22 * * *", "timezone": "America/New_York", "grace": "0s"})
			first := e.evaluator(e.open())
			if n := e.run(first, utc("2026-06-01T02:29:00Z")); n != 0 { // 22:29 EDT on 31 May
				t.Fatalf("%d", n)
			}
			// Every node down from here. Two files for 2 June, one for 3 June.
			e.arrive("/inventory-a.xml", utc("2026-06-02T20:00:00Z"))
			e.arrive("/inventory-b.xml", utc("2026-06-02T21:00:00Z"))
			e.arrive("/inventory-c.xml", utc("2026-06-04T01:00:00Z"))
			back := e.evaluator(e.open())
			if n := e.run(back, utc("2026-06-05T12:00:00Z")); n != 5 {
				t.Fatalf("after the outage: %d evaluations, want 5", n)
			}
			got := outcomes(e.evaluations(x.ID))
			wantNow := `2026-06-01T02:30Z missed
2026-06-02T02:30Z missed
2026-06-03T02:30Z met
2026-06-04T02:30Z missed
2026-06-05T02:30Z missed`
			if got != wantNow {
				t.Fatalf("evaluations:\n%s\nwant:\n%s", got, wantNow)
			}
			again := e.evaluator(e.open())
			if n := e.run(again, utc("2026-06-05T12:00:00Z")); n != 0 {
				t.Fatalf("a node coming back later judged %d again", n)
			}
			if n := e.run(first, utc("2026-06-05T12:00:00Z")); n != 0 {
				t.Fatalf("the first node judged %d again", n)
			}
			mails, _ := e.alerts()
			if len(mails) != 4 {
				t.Errorf("mails: %v", mails)
			}
		})
	}
}

// Two nodes evaluating at the same moments record every deadline once and
// queue every alert once.
func TestTwoEvaluatorsExactlyOnce(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			e.set(utc("2026-01-01T00:00:00Z"))
			var ids []string
			for range 4 {
				ids = append(ids, e.create(map[string]any{"folder": "/in", "pattern": "*", "count": 1,
					"schedule": "0 */6 * * *", "timezone": "Asia/Kolkata", "grace": "1h"}).ID)
			}
			for d := 0; d < 3; d++ { // one file a day: 3 of the 4 windows a day after it are missed
				e.arrive("/in/f.bin", utc("2026-01-01T00:00:00Z").Add(time.Duration(d)*24*time.Hour+time.Minute))
			}
			nodes := []*expect.Evaluator{e.evaluator(e.open()), e.evaluator(e.open())}
			total := 0
			var mu sync.Mutex
			for step := time.Duration(0); step <= 72*time.Hour; step += 90 * time.Minute {
				e.set(utc("2026-01-01T00:00:00Z").Add(step))
				var wg sync.WaitGroup
				for _, v := range nodes {
					wg.Add(1)
					go func() {
						defer wg.Done()
						n, err := v.RunOnce(context.Background())
						if err != nil {
							t.Error(err)
						}
						mu.Lock()
						total += n
						mu.Unlock()
					}()
				}
				wg.Wait()
			}
			rows, missed, late := 0, 0, 0
			for _, id := range ids {
				list := e.evaluations(id)
				rows += len(list)
				for _, ev := range list {
					if ev.Outcome == store.OutcomeMissed {
						missed++
					}
					if ev.LateDeliveryAt != nil {
						late++
					}
				}
			}
			// 6-hourly deadlines in Kolkata (+05:30) from 00:30 UTC, judged by
			// 72h: 12 each, 3 a day met by the file at 00:01, 9 missed; the
			// files of the 2nd and 3rd day are late deliveries of the miss of
			// 18:30 the day before.
			if rows != 4*12 || missed != 4*9 || late != 4*2 || total != rows+late {
				t.Fatalf("%d evaluations (%d missed, %d late deliveries) recorded, %d reported by the nodes; want 48 (36, 8), 56",
					rows, missed, late, total)
			}
			mails, events := e.alerts()
			if len(mails) != missed+late || len(events) != missed+late {
				t.Fatalf("%d misses and %d late deliveries, %d mails, %d webhook events", missed, late, len(mails), len(events))
			}
		})
	}
}

// Bad schedules, zones, globs and counts are refused with the field named.
func TestCreateRefusesBadInput(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	s := func(v string) *string { return &v }
	zero := 0
	_, err := e.svc.Create(context.Background(), e.partner.ID, expect.Input{Folder: s("/in"), Pattern: s("[a-"),
		Schedule: s("0 6 * *"), TimeZone: s("Europe/Berlinn"), Grace: s("soon"), Count: &zero, NotifyEmails: []string{"not an address"}})
	var v *partners.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("err %v", err)
	}
	var fields []string
	for _, f := range v.Fields {
		fields = append(fields, f.Field)
	}
	if got := strings.Join(fields, ","); got != "count,grace,notify_emails,pattern,schedule,time_zone" {
		t.Fatalf("fields %s: %v", got, v)
	}
	for _, bad := range []string{"61 6 * * *", "@every 1h", "TZ=UTC 0 6 * * *", "every weekday by 25:00", "0 0 30 2 *"} {
		if _, err := expect.ParseSchedule(bad, "UTC"); err == nil {
			t.Errorf("schedule %q accepted", bad)
		}
	}
	for in, want := range map[string]string{"every weekday by 06:00": "0 6 * * 1-5", "Every  Day by 18:30": "30 18 * * *",
		"every sunday by 9:05": "5 9 * * 0", "0 6 * * 1-5": "0 6 * * 1-5", "@daily": "@daily"} {
		if got, err := expect.CronSpec(in); err != nil || got != want {
			t.Errorf("CronSpec(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if err := expect.CheckPattern("in/*.csv"); err == nil {
		t.Error("a pattern with a slash was accepted")
	}
}

// Deadlines in the hour the clocks skip or repeat (Europe/Berlin, 2026): a
// daily 02:30 has no deadline on 29 March and one, not two, on 25 October,
// so a daily file is not judged twice an hour apart.
func TestScheduleAcrossDSTGapAndOverlap(t *testing.T) {
	s, err := expect.ParseSchedule("30 2 * * *", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, from := range []string{"2026-03-27T12:00:00Z", "2026-10-23T12:00:00Z"} {
		at := utc(from)
		for range 4 {
			at = s.Next(at)
			got = append(got, at.UTC().Format("01-02T15:04"))
		}
	}
	want := "03-28T01:30 03-30T00:30 03-31T00:30 04-01T00:30 10-24T00:30 10-25T00:30 10-26T01:30 10-27T01:30"
	if strings.Join(got, " ") != want {
		t.Fatalf("deadlines (UTC) %s\nwant %s", strings.Join(got, " "), want)
	}
}
