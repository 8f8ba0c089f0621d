package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

type notificationDoc struct {
	ID            string          `json:"id"`
	PartnerID     string          `json:"partner_id"`
	Kind          string          `json:"kind"`
	Status        string          `json:"status"`
	BatchID       string          `json:"batch_id"`
	MessageID     string          `json:"message_id"`
	Payload       json.RawMessage `json:"payload"`
	Attempts      int             `json:"attempts"`
	NextAttemptAt *time.Time      `json:"next_attempt_at"`
	LastError     string          `json:"last_error"`
	Recipients    []string        `json:"recipients"`
	SentAt        *time.Time      `json:"sent_at"`
}

// listAll follows next_cursor from path to the end.
func listAll[T any](t *testing.T, h *harness, path string) []T {
	t.Helper()
	var all []T
	next := path
	for pages := 0; ; pages++ {
		var pg pageDoc[T]
		h.do("GET", next, h.auditor, nil).want(t, http.StatusOK).decode(t, &pg)
		all = append(all, pg.Items...)
		if pg.NextCursor == nil {
			return all
		}
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		next = path + sep + "cursor=" + url.QueryEscape(*pg.NextCursor)
	}
}

func TestNotifications(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		h := newHarnessOn(t, st, harnessOpts{})
		ctx := context.Background()
		acme := h.createPartner("acme")
		other := h.createPartner("other")
		h.createAccount("acme", "alice")

		// An upload over FTP queues its alert in the same transaction.
		c, err := h.dialFTP("alice", ftpPassword)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Stor("orders.csv", strings.NewReader("a,b\n1,2\n")); err != nil {
			t.Fatal(err)
		}
		var upload notificationDoc
		testenv.Eventually(t, 10*time.Second, func() error {
			var pg pageDoc[notificationDoc]
			h.do("GET", "/api/v1/notifications?partner=acme&kind=upload", h.auditor, nil).want(t, http.StatusOK).decode(t, &pg)
			if len(pg.Items) == 0 {
				return errors.New("no upload notification")
			}
			upload = pg.Items[0]
			return nil
		})
		var payload struct {
			Path     string `json:"path"`
			Size     int64  `json:"size"`
			Username string `json:"username"`
		}
		if err := json.Unmarshal(upload.Payload, &payload); err != nil {
			t.Fatal(err)
		}
		if upload.PartnerID != acme.ID || upload.Status != "pending" || upload.NextAttemptAt == nil ||
			payload.Path != "/orders.csv" || payload.Size != 8 || payload.Username != "alice" ||
			!strings.HasSuffix(upload.MessageID, "@ferry.test") || len(upload.Recipients) != 0 {
			t.Fatalf("upload notification: %+v %+v", upload, payload)
		}

		// A test mail: admin only, for a known partner.
		h.do("POST", "/api/v1/partners/acme/test-notification", h.auditor, nil).want(t, http.StatusForbidden).problem(t)
		h.do("POST", "/api/v1/partners/nobody/test-notification", h.admin, nil).want(t, http.StatusNotFound).problem(t)
		r := h.do("POST", "/api/v1/partners/acme/test-notification", h.admin, nil).want(t, http.StatusAccepted)
		var test notificationDoc
		r.decode(t, &test)
		if test.Kind != "test" || test.Status != "pending" || test.PartnerID != acme.ID || string(test.Payload) == "{}" {
			t.Fatalf("test notification: %+v", test)
		}
		if loc := r.header.Get("Location"); loc != "/api/v1/notifications/"+test.ID {
			t.Errorf("Location %q", loc)
		}

		// The notifier's part, done by hand: the upload is sent, the test
		// mail is refused for good.
		claimed, err := h.st.ClaimNotifications(ctx, store.ClaimOptions{Lease: time.Minute, Limit: 10})
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claim: %v %+v", err, claimed)
		}
		relayed := time.Now()
		for _, n := range claimed {
			res := store.Settlement{Status: store.NotifySent, Recipients: []string{"ops@acme.example"}, RelayedAt: &relayed}
			if n.ID == test.ID {
				res = store.Settlement{Status: store.NotifyDead, LastError: "550 5.1.1 <ops@acme.example>: no such user"}
			}
			if err := h.st.SettleNotification(ctx, n.BatchID, n.Token, res); err != nil {
				t.Fatal(err)
			}
		}
		r = h.do("GET", "/api/v1/notifications/"+test.ID, h.auditor, nil).want(t, http.StatusOK)
		var dead notificationDoc
		r.decode(t, &dead)
		if dead.Status != "dead" || !strings.Contains(dead.LastError, "550 5.1.1") || dead.NextAttemptAt != nil || dead.Attempts != 1 {
			t.Fatalf("dead notification: %+v", dead)
		}
		etag := r.header.Get("ETag")
		var sent notificationDoc
		h.do("GET", "/api/v1/notifications/"+upload.ID, h.auditor, nil).want(t, http.StatusOK).decode(t, &sent)
		if sent.Status != "sent" || sent.SentAt == nil || !slices.Equal(sent.Recipients, []string{"ops@acme.example"}) {
			t.Fatalf("sent notification: %+v", sent)
		}
		h.do("GET", "/api/v1/notifications/nope", h.auditor, nil).want(t, http.StatusNotFound).problem(t)

		// The queue depth in /metrics.
		m := h.do("GET", "/metrics", h.auditor, nil).want(t, http.StatusOK)
		for _, line := range []string{`ferry_notifications{status="pending"} 0`, `ferry_notifications{status="dead"} 1`,
			`ferry_notifications{status="sending"} 0`} {
			if !bytes.Contains(m.body, []byte(line+"\n")) {
				t.Errorf("metrics lack %q", line)
			}
		}

		// Retry: admin only, If-Match honoured, only a dead one.
		h.do("POST", "/api/v1/notifications/"+test.ID+"/retry", h.auditor, nil).want(t, http.StatusForbidden).problem(t)
		h.do("POST", "/api/v1/notifications/"+test.ID+"/retry", h.admin, nil, "If-Match", `"stale"`).
			want(t, http.StatusPreconditionFailed).problem(t)
		h.do("POST", "/api/v1/notifications/nope/retry", h.admin, nil).want(t, http.StatusNotFound).problem(t)
		var retried notificationDoc
		h.do("POST", "/api/v1/notifications/"+test.ID+"/retry", h.admin, nil, "If-Match", etag).
			want(t, http.StatusAccepted).decode(t, &retried)
		if retried.Status != "pending" || retried.Attempts != 0 || retried.LastError != "" || retried.MessageID != test.MessageID {
			t.Fatalf("retried: %+v", retried)
		}
		p := h.do("POST", "/api/v1/notifications/"+test.ID+"/retry", h.admin, nil).want(t, http.StatusConflict).problem(t)
		if !strings.Contains(p.Detail, "dead") {
			t.Errorf("409 detail: %q", p.Detail)
		}
		h.do("POST", "/api/v1/notifications/"+upload.ID+"/retry", h.admin, nil).want(t, http.StatusConflict)
		var audit pageDoc[struct{ Action, Target string }]
		h.do("GET", "/api/v1/admin-audit?action=notification.retry", h.auditor, nil).want(t, http.StatusOK).decode(t, &audit)
		if len(audit.Items) != 6 || audit.Items[1].Target != test.ID || audit.Items[3].Target != "nope" {
			t.Errorf("admin audit of retries: %+v", audit.Items)
		}

		// More rows, for filters and paging.
		for range 7 {
			if _, err := h.outbox.SendTest(ctx, other.ID); err != nil {
				t.Fatal(err)
			}
		}
		all := listAll[notificationDoc](t, h, "/api/v1/notifications?limit=2")
		if len(all) != 9 {
			t.Fatalf("paged %d notifications, want 9", len(all))
		}
		for i := 1; i < len(all); i++ {
			if all[i].ID >= all[i-1].ID {
				t.Fatalf("not newest first, or a row twice: %s after %s", all[i].ID, all[i-1].ID)
			}
		}
		for q, n := range map[string]int{
			"partner=acme": 2, "partner=" + other.ID: 7, "partner=nobody": 0, "status=pending": 8, "status=sent": 1,
			"status=dead": 0, "kind=test": 8, "kind=quota": 0, "partner=other&kind=test&status=pending&limit=3": 7,
		} {
			if got := listAll[notificationDoc](t, h, "/api/v1/notifications?"+q); len(got) != n {
				t.Errorf("notifications?%s: %d, want %d", q, len(got), n)
			}
		}
		for q, field := range map[string]string{
			"status=lost": "status", "kind=fax": "kind", "limit=0": "limit", "limit=501": "limit", "sort=id": "sort",
		} {
			p := h.do("GET", "/api/v1/notifications?"+q, h.auditor, nil).want(t, http.StatusBadRequest).problem(t)
			if !p.hasField(field) {
				t.Errorf("%s: 400 does not name %s: %+v", q, field, p.Errors)
			}
		}
	})
}

// The alerts of uploads finished in one transaction (an audit writer's
// batch) are one row per partner, listed with an UploadsPayload.
func TestNotificationOfUploadsTogether(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		h := newHarnessOn(t, st, harnessOpts{})
		ctx := context.Background()
		acme := h.createPartner("acme")
		other := h.createPartner("other")
		err := st.Tx(ctx, func(tx *store.Store) error {
			for i, pid := range []string{acme.ID, acme.ID, other.ID, acme.ID} {
				err := h.outbox.OnUpload(ctx, tx, &store.Transfer{ID: store.NewID(), PartnerID: &pid, Username: "alice",
					Path: fmt.Sprintf("/in/%d.csv", i), FileSize: int64(i), SHA256: strings.Repeat("ab", 32)})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var pg pageDoc[notificationDoc]
		h.do("GET", "/api/v1/notifications?partner=acme&kind=upload", h.auditor, nil).want(t, http.StatusOK).decode(t, &pg)
		var payload struct {
			Uploads []struct {
				Path string `json:"path"`
			} `json:"uploads"`
		}
		if len(pg.Items) != 1 {
			t.Fatalf("%d rows for acme, want 1", len(pg.Items))
		}
		if err := json.Unmarshal(pg.Items[0].Payload, &payload); err != nil {
			t.Fatal(err)
		}
		if len(payload.Uploads) != 3 || payload.Uploads[0].Path != "/in/0.csv" || payload.Uploads[2].Path != "/in/3.csv" {
			t.Errorf("acme's payload: %s", pg.Items[0].Payload)
		}
		// One upload: an UploadPayload, as ever.
		h.do("GET", "/api/v1/notifications?partner=other&kind=upload", h.auditor, nil).want(t, http.StatusOK).decode(t, &pg)
		if len(pg.Items) != 1 || !strings.Contains(string(pg.Items[0].Payload), `"path":"/in/2.csv"`) {
			t.Errorf("other's rows: %+v", pg.Items)
		}
	})
}

func TestSubscribers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		h := newHarnessOn(t, st, harnessOpts{})
		acme := h.createPartner("acme")
		list := func() []string {
			var l struct {
				Items []struct {
					Email     string    `json:"email"`
					CreatedAt time.Time `json:"created_at"`
				}
			}
			h.do("GET", "/api/v1/partners/acme/subscribers", h.auditor, nil).want(t, http.StatusOK).decode(t, &l)
			var out []string
			for _, s := range l.Items {
				out = append(out, s.Email)
			}
			return out
		}
		if got := list(); len(got) != 0 {
			t.Fatalf("subscribers of a new partner: %v", got)
		}
		r := h.do("POST", "/api/v1/partners/acme/subscribers", h.admin, map[string]string{"email": "am@ferry.example"}).
			want(t, http.StatusCreated)
		if loc := r.header.Get("Location"); loc != "/api/v1/partners/"+acme.ID+"/subscribers/am@ferry.example" {
			t.Errorf("Location %q", loc)
		}
		h.do("POST", "/api/v1/partners/"+acme.ID+"/subscribers", h.admin, map[string]string{"email": "Zed@Ferry.example"}).
			want(t, http.StatusCreated)
		h.do("POST", "/api/v1/partners/acme/subscribers", h.admin, map[string]string{"email": "AM@ferry.example"}).
			want(t, http.StatusConflict).problem(t)
		for body, field := range map[string]string{
			`{"email": "Bob <bob@x.example>"}`: "email", `{"email": "nobody"}`: "email", `{"email": ""}`: "email",
		} {
			p := h.do("POST", "/api/v1/partners/acme/subscribers", h.admin, body).want(t, http.StatusUnprocessableEntity).problem(t)
			if !p.hasField(field) {
				t.Errorf("%s: 422 does not name %s: %+v", body, field, p.Errors)
			}
		}
		h.do("POST", "/api/v1/partners/acme/subscribers", h.admin, `{"mail": "a@b.example"}`).want(t, http.StatusBadRequest).problem(t)
		h.do("POST", "/api/v1/partners/acme/subscribers", h.auditor, map[string]string{"email": "x@y.example"}).
			want(t, http.StatusForbidden).problem(t)
		h.do("POST", "/api/v1/partners/nobody/subscribers", h.admin, map[string]string{"email": "x@y.example"}).
			want(t, http.StatusNotFound).problem(t)
		if got := list(); !slices.Equal(got, []string{"Zed@Ferry.example", "am@ferry.example"}) && !slices.Equal(got, []string{"am@ferry.example", "Zed@Ferry.example"}) {
			t.Fatalf("subscribers: %v", got)
		}
		// The notifier reads the same rows.
		if subs, err := h.st.Subscribers(context.Background(), acme.ID); err != nil || len(subs) != 2 {
			t.Fatalf("store subscribers: %v %+v", err, subs)
		}

		h.do("DELETE", "/api/v1/partners/acme/subscribers/zed@ferry.example", h.auditor, nil).want(t, http.StatusForbidden)
		h.do("DELETE", "/api/v1/partners/acme/subscribers/zed@ferry.example", h.admin, nil).want(t, http.StatusNoContent)
		h.do("DELETE", "/api/v1/partners/acme/subscribers/zed@ferry.example", h.admin, nil).want(t, http.StatusNotFound).problem(t)
		h.do("DELETE", "/api/v1/partners/acme/subscribers/"+url.PathEscape("am@ferry.example"), h.admin, nil).want(t, http.StatusNoContent)
		if got := list(); len(got) != 0 {
			t.Fatalf("subscribers after removal: %v", got)
		}
		var audit pageDoc[struct{ Action, Target string }]
		h.do("GET", "/api/v1/admin-audit?action=subscriber.remove", h.auditor, nil).want(t, http.StatusOK).decode(t, &audit)
		if len(audit.Items) != 4 || audit.Items[0].Target != acme.ID+"/am@ferry.example" {
			t.Errorf("admin audit: %+v", audit.Items)
		}
	})
}

// The parts a server was started without answer 503 on every route, with
// a problem the document describes; subscribers need only the database.
func TestNotConfigured(t *testing.T) {
	h := newHarness(t, storetest.Backends()[0], harnessOpts{bare: true})
	h.createPartner("acme")
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/notifications"}, {"GET", "/api/v1/notifications/x"}, {"POST", "/api/v1/notifications/x/retry"},
		{"POST", "/api/v1/partners/acme/test-notification"}, {"GET", "/api/v1/bans"}, {"DELETE", "/api/v1/bans/192.0.2.1"},
		{"GET", "/api/v1/partners/acme/mailbox"}, {"GET", "/api/v1/partners/acme/mailbox/messages"},
		{"GET", "/api/v1/partners/acme/mailbox/messages/1"}, {"GET", "/api/v1/partners/acme/mailbox/messages/1/raw"},
		{"DELETE", "/api/v1/partners/acme/mailbox/messages/1"},
	} {
		p := h.do(c.method, c.path, h.admin, nil).want(t, http.StatusServiceUnavailable).problem(t)
		if !strings.Contains(p.Detail, "not configured") {
			t.Errorf("%s %s: detail %q", c.method, c.path, p.Detail)
		}
	}
	h.do("GET", "/api/v1/partners/acme/subscribers", h.auditor, nil).want(t, http.StatusOK)
	h.do("POST", "/api/v1/partners/acme/subscribers", h.admin, map[string]string{"email": "a@b.example"}).want(t, http.StatusCreated)
	// Auth still comes first.
	h.do("GET", "/api/v1/bans", "", nil).want(t, http.StatusUnauthorized)
	h.do("DELETE", "/api/v1/bans/192.0.2.1", h.auditor, nil).want(t, http.StatusForbidden)
}

// The enums of the new schemas follow the code they describe.
func TestOpenAPINotificationEnums(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	n := doc.Components.Schemas["Notification"].Properties
	if want := []string{store.NotifyPending, store.NotifySending, store.NotifySent, store.NotifyDead, store.NotifyBlocked}; !slices.Equal(n["status"].Enum, want) {
		t.Errorf("Notification.status enum %v, want %v", n["status"].Enum, want)
	}
	if want := []string{store.NotifyKindUpload, store.NotifyKindQuota, store.NotifyKindTest, store.NotifyKindExpectation, store.NotifyKindMail}; !slices.Equal(n["kind"].Enum, want) {
		t.Errorf("Notification.kind enum %v, want %v", n["kind"].Enum, want)
	}
	// The webhook events of the spec are notify's.
	w := doc.Components.Schemas["WebhookDelivery"].Properties
	if want := notify.Events(); !slices.Equal(w["event"].Enum, want) {
		t.Errorf("WebhookDelivery.event enum %v, want %v", w["event"].Enum, want)
	}
}
