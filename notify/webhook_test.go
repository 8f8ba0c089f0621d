package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/store"
)

// verify is the receiver's check of X-Ferry-Signature, as docs/webhooks.md
// prints it: the receiver side of the scheme, written without Ferry's code.
func verify(secret string, header string, body []byte, now time.Time) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		if k, v, ok := strings.Cut(part, "="); ok && k == "t" {
			ts = v
		} else if ok && k == "v1" {
			sig = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(t, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(sig))
}

// hit is one request a receiver got.
type hit struct {
	header http.Header
	body   []byte
	valid  bool // signature verified
	code   int  // what the receiver answered
}

// receiver is a real HTTP server on 127.0.0.1 that verifies signatures and
// answers fail's codes first, then 204.
type receiver struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	fail   []int
	hits   []hit
	got    chan struct{}
}

func newReceiver(t *testing.T, secret string, tlsOn bool, fail ...int) *receiver {
	r := &receiver{secret: secret, fail: fail, got: make(chan struct{}, 100)}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		code := http.StatusNoContent
		if len(r.fail) > 0 {
			code, r.fail = r.fail[0], r.fail[1:]
		}
		r.hits = append(r.hits, hit{header: req.Header.Clone(), body: body, code: code,
			valid: verify(r.secret, req.Header.Get("X-Ferry-Signature"), body, time.Now())})
		r.mu.Unlock()
		w.WriteHeader(code)
		r.got <- struct{}{}
	})
	r.srv = httptest.NewUnstartedServer(h)
	r.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-CA test's handshake errors
	if tlsOn {
		r.srv.StartTLS()
	} else {
		r.srv.Start()
	}
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) all() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

func (e *env) hook(url, secret string, events ...string) *store.Webhook {
	e.t.Helper()
	w := &store.Webhook{URL: url, Secret: secret, Events: strings.Join(events, ","), Enabled: true}
	if err := e.db.CreateWebhook(context.Background(), w); err != nil {
		e.t.Fatal(err)
	}
	return w
}

func (e *env) sender(allowPrivate bool) *notify.WebhookSender {
	return &notify.WebhookSender{Outbox: e.outbox, AllowPrivate: allowPrivate, PollInterval: 20 * time.Millisecond,
		BackoffBase: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond, Timeout: 5 * time.Second,
		Logger: testLogger(e.t)}
}

func (e *env) deliveries() []store.WebhookDelivery {
	e.t.Helper()
	rows, err := e.db.ListWebhookDeliveries(context.Background(), store.WebhookDeliveryFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

// drain runs the sender until no delivery is pending or sending.
func drain(t *testing.T, e *env, s *notify.WebhookSender) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := s.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		busy := false
		for _, d := range e.deliveries() {
			busy = busy || d.Status == store.NotifyPending || d.Status == store.NotifySending
		}
		if !busy {
			return
		}
		time.Sleep(15 * time.Millisecond)
	}
	t.Fatalf("deliveries still due after 20s: %+v", e.deliveries())
}

// An FTP upload reaches a webhook as one signed POST whose signature the
// documented receiver check accepts and whose body carries the alert's
// content and the event ID of the header.
func TestWebhookUploadSigned(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		rcv := newReceiver(t, "s3cret-key", false)
		e.hook(rcv.srv.URL+"/hooks/ferry", "s3cret-key", notify.EventUploadFinished)
		other := newReceiver(t, "other", false)
		e.hook(other.srv.URL, "other", notify.EventFileDeleted) // wants no uploads

		ctx, cancel := context.WithCancel(context.Background())
		s := e.sender(true)
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		defer func() { cancel(); <-done }()

		c := e.startFTP()
		if err := c.Stor("invoice.csv", strings.NewReader("a,b\n1,2\n")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-rcv.got:
		case <-time.After(10 * time.Second):
			t.Fatal("no webhook request within 10s")
		}
		hits := rcv.all()
		if len(hits) != 1 {
			t.Fatalf("receiver got %d requests, want 1", len(hits))
		}
		h := hits[0]
		if !h.valid {
			t.Fatalf("signature %q did not verify", h.header.Get("X-Ferry-Signature"))
		}
		if verify("wrong secret", h.header.Get("X-Ferry-Signature"), h.body, time.Now()) {
			t.Fatal("signature verified with a wrong secret")
		}
		if verify("s3cret-key", h.header.Get("X-Ferry-Signature"), append(h.body, ' '), time.Now()) {
			t.Fatal("signature verified for a changed body")
		}
		var ev struct {
			ID      string `json:"id"`
			Event   string `json:"event"`
			Partner struct{ Slug string }
			Data    notify.UploadPayload
		}
		if err := json.Unmarshal(h.body, &ev); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte("a,b\n1,2\n"))
		if ev.Event != "upload.finished" || ev.ID == "" || ev.ID != h.header.Get("X-Ferry-Event-Id") ||
			ev.Partner.Slug != "acme" || ev.Data.Path != "/invoice.csv" || ev.Data.Size != 8 ||
			ev.Data.SHA256 != hex.EncodeToString(sum[:]) || ev.Data.Username != "alice" || ev.Data.FinishedAt.IsZero() {
			t.Fatalf("event: %s", h.body)
		}
		if ct := h.header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		if n := len(other.all()); n != 0 {
			t.Fatalf("a hook without upload.finished got %d requests", n)
		}
	})
}

// A receiver that fails three times (503, 500, 502) and then succeeds gets
// the same event, byte for byte and with the same event ID, four times and
// accepts it once; the row ends sent after 4 attempts.
func TestWebhookRetriesUntilAccepted(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		rcv := newReceiver(t, "k", false, 503, 500, 502)
		e.hook(rcv.srv.URL, "k", notify.EventUploadFinished)
		e.uploadOne("x.txt", "x")
		drain(t, e, e.sender(true))
		hits := rcv.all()
		if len(hits) != 4 {
			t.Fatalf("receiver got %d requests, want 4", len(hits))
		}
		accepted := map[string]int{}
		for i, h := range hits {
			if !h.valid || string(h.body) != string(hits[0].body) ||
				h.header.Get("X-Ferry-Event-Id") != hits[0].header.Get("X-Ferry-Event-Id") {
				t.Fatalf("request %d differs or does not verify: %s", i, h.body)
			}
			if h.code < 300 {
				accepted[h.header.Get("X-Ferry-Event-Id")]++
			}
		}
		if len(accepted) != 1 {
			t.Fatalf("accepted events: %v", accepted)
		}
		d := e.deliveries()
		if len(d) != 1 || d[0].Status != store.NotifySent || d[0].Attempts != 4 || d[0].ResponseCode != 204 {
			t.Fatalf("delivery: %+v", d)
		}
	})
}

// A receiver that keeps failing makes the delivery dead after MaxAttempts;
// an operator's re-drive sends the same event again, which then succeeds.
func TestWebhookDeadAndRedrive(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		rcv := newReceiver(t, "k", false, 500, 500, 500)
		e.hook(rcv.srv.URL, "k", notify.EventUploadFinished)
		e.uploadOne("x.txt", "x")
		s := e.sender(true)
		s.MaxAttempts = 3
		drain(t, e, s)
		d := e.deliveries()
		if len(d) != 1 || d[0].Status != store.NotifyDead || !strings.Contains(d[0].LastError, "gave up after 3 attempts") {
			t.Fatalf("delivery: %+v", d)
		}
		if _, err := e.outbox.RetryDelivery(context.Background(), d[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.outbox.RetryDelivery(context.Background(), d[0].ID); err == nil {
			t.Fatal("a pending delivery could be re-driven")
		}
		drain(t, e, s)
		hits := rcv.all()
		if len(hits) != 4 || hits[3].code != 204 || hits[3].header.Get("X-Ferry-Event-Id") != d[0].EventID {
			t.Fatalf("hits: %d", len(hits))
		}
		if d := e.deliveries(); d[0].Status != store.NotifySent {
			t.Fatalf("after re-drive: %+v", d[0])
		}
	})
}

// Without FERRY_WEBHOOK_ALLOW_PRIVATE a URL on 127.0.0.1 is refused when the
// hook is created, and a hook whose name resolves to loopback at the time of
// the request (stored directly, as if its DNS had changed since) is refused
// when it dials: the receiver never hears of it.
func TestWebhookLoopbackRefusedByDefault(t *testing.T) {
	e := newEnv(t, storeBackend(t, "sqlite"))
	rcv := newReceiver(t, "k", false)
	for _, u := range []string{rcv.srv.URL, "http://localhost/x", "http://[::1]:8080/", "http://10.1.2.3/",
		"http://169.254.169.254/latest/meta-data", "http://192.168.1.1/", "ftp://example.com/", "http://u:p@example.com/"} {
		if err := notify.CheckWebhookURL(u, false); err == nil {
			t.Errorf("CheckWebhookURL(%s) accepted", u)
		}
	}
	if err := notify.CheckWebhookURL(rcv.srv.URL, true); err != nil {
		t.Errorf("with allow-private: %v", err)
	}
	if err := notify.CheckWebhookURL("https://hooks.example.com/ferry", false); err != nil {
		t.Errorf("public URL: %v", err)
	}
	port := rcv.srv.URL[strings.LastIndex(rcv.srv.URL, ":")+1:]
	e.hook(rcv.srv.URL, "k", notify.EventUploadFinished)
	e.hook("http://localhost:"+port+"/", "k", notify.EventUploadFinished)
	e.uploadOne("x.txt", "x")
	drain(t, e, e.sender(false))
	if n := len(rcv.all()); n != 0 {
		t.Fatalf("the loopback receiver got %d requests", n)
	}
	for _, d := range e.deliveries() {
		if d.Status != store.NotifyDead || !strings.Contains(d.LastError, "loopback address") {
			t.Fatalf("delivery: %+v", d)
		}
	}
}

// An HTTPS webhook whose certificate a custom CA signed is delivered when
// the sender trusts that CA, and fails (to be retried) when it does not.
func TestWebhookHTTPSCustomCA(t *testing.T) {
	e := newEnv(t, storeBackend(t, "sqlite"))
	rcv := newReceiver(t, "k", true)
	e.hook(rcv.srv.URL, "k", notify.EventUploadFinished)
	e.uploadOne("x.txt", "x")
	s := e.sender(true)
	s.MaxAttempts = 1
	drain(t, e, s)
	d := e.deliveries()
	if d[0].Status != store.NotifyDead || !strings.Contains(d[0].LastError, "certificate") {
		t.Fatalf("untrusted CA: %+v", d[0])
	}
	pool := x509.NewCertPool()
	pool.AddCert(rcv.srv.Certificate())
	s = e.sender(true)
	s.RootCAs = pool
	if _, err := e.outbox.RetryDelivery(context.Background(), d[0].ID); err != nil {
		t.Fatal(err)
	}
	drain(t, e, s)
	if d := e.deliveries(); d[0].Status != store.NotifySent || len(rcv.all()) != 1 || !rcv.all()[0].valid {
		t.Fatalf("trusted CA: %+v", d[0])
	}
}

// A download and a delete over FTP reach the hooks that want them, with
// the path, size and account.
func TestWebhookDownloadAndDelete(t *testing.T) {
	e := newEnv(t, storeBackend(t, "sqlite"))
	rcv := newReceiver(t, "k", false)
	e.hook(rcv.srv.URL, "k", notify.EventDownloadFinished, notify.EventFileDeleted)
	c := e.startFTP()
	if err := c.Stor("r.txt", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	rd, err := c.Retr("r.txt")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(rd)
	rd.Close()
	if err := c.Delete("r.txt"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(e.deliveries()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	drain(t, e, e.sender(true))
	hits := rcv.all()
	if len(hits) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(hits))
	}
	var got []string
	for _, h := range hits {
		var ev struct {
			Event string
			Data  notify.FilePayload
		}
		if err := json.Unmarshal(h.body, &ev); err != nil || !h.valid {
			t.Fatalf("%v %s", err, h.body)
		}
		got = append(got, ev.Event+" "+ev.Data.Path+" "+strconv.FormatInt(ev.Data.Size, 10)+" "+ev.Data.Username)
	}
	sort.Strings(got) // two workers may deliver them in either order
	if strings.Join(got, "; ") != "download.finished /r.txt 5 alice; file.deleted /r.txt 5 alice" {
		t.Fatalf("events: %v", got)
	}
}

// Mail that arrives from outside (inbound SMTP marks it Received) reaches
// mail.received hooks; an alert's copy in the mailbox does not. A ban
// reaches login.failed_ban hooks without a partner filter.
func TestWebhookMailReceivedAndBan(t *testing.T) {
	e := newEnv(t, storeBackend(t, "sqlite"))
	ctx := context.Background()
	rcv := newReceiver(t, "k", false)
	e.hook(rcv.srv.URL, "k", notify.EventMailReceived, notify.EventLoginFailedBan)
	scoped := e.hook(rcv.srv.URL+"/acme-only", "k", notify.EventLoginFailedBan)
	scoped.PartnerID = &e.acme.ID
	if err := e.db.UpdateWebhook(ctx, scoped); err != nil {
		t.Fatal(err)
	}
	e.mail.OnReceived = e.outbox.OnMailReceived
	msg := "From: a@example.com\r\nTo: acme@mail.test\r\nSubject: invoice 42\r\nMessage-ID: <m1@example.com>\r\n\r\nhi\r\n"
	if _, err := e.mail.DeliverTo(ctx, []mailbox.Recipient{{PartnerID: e.acme.ID}}, strings.NewReader(msg),
		mailbox.DeliverOptions{Received: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mail.Deliver(ctx, "acme", []byte(strings.Replace(msg, "m1@", "m2@", 1))); err != nil { // as an alert copy
		t.Fatal(err)
	}
	g := &bans.Guard{Store: e.db, MaxFailures: 2, OnBan: e.outbox.OnBan}
	ip := netip.MustParseAddr("192.0.2.7")
	g.Failure(ctx, ip, "ftp", "mallory")
	g.Failure(ctx, ip, "ftp", "mallory")
	drain(t, e, e.sender(true))
	var got []string
	for _, h := range rcv.all() {
		var ev struct {
			Event   string
			Partner *notify.EventPartner
			Data    map[string]any
		}
		if err := json.Unmarshal(h.body, &ev); err != nil || !h.valid {
			t.Fatalf("%v %s", err, h.body)
		}
		switch ev.Event {
		case notify.EventMailReceived:
			got = append(got, ev.Event+" "+ev.Partner.Slug+" "+ev.Data["subject"].(string)+" "+ev.Data["message_id"].(string))
		case notify.EventLoginFailedBan:
			got = append(got, ev.Event+" "+ev.Data["ip"].(string)+" "+ev.Data["username"].(string))
		}
	}
	sort.Strings(got)
	if strings.Join(got, "; ") != "login.failed_ban 192.0.2.7 mallory; mail.received acme invoice 42 m1@example.com" {
		t.Fatalf("events: %v", got)
	}
}

// An event queued in a transaction that rolls back is never sent; two
// senders on two store handles (two nodes) deliver each of many events
// exactly once.
func TestWebhookTransactionalAndTwoSenders(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		rcv := newReceiver(t, "k", false)
		e.hook(rcv.srv.URL, "k", notify.EventFileDeleted)
		err := e.db.Tx(ctx, func(tx *store.Store) error {
			if err := e.outbox.Event(ctx, tx, notify.EventFileDeleted, e.acme.ID, map[string]string{"path": "/gone"}); err != nil {
				return err
			}
			return errors.New("the operation failed")
		})
		if err == nil || len(e.deliveries()) != 0 {
			t.Fatalf("rolled back: %v, %d deliveries", err, len(e.deliveries()))
		}
		const n = 30
		for i := range n {
			if err := e.outbox.EventNow(ctx, notify.EventFileDeleted, e.acme.ID, map[string]int{"i": i}); err != nil {
				t.Fatal(err)
			}
		}
		var senders []*notify.WebhookSender
		for range 2 {
			s := e.sender(true)
			s.Outbox = &notify.Outbox{Store: e.open()}
			s.Batch, s.Workers = 4, 2
			senders = append(senders, s)
		}
		var wg sync.WaitGroup
		for _, s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					if k, err := s.RunOnce(ctx); err != nil {
						t.Error(err)
						return
					} else if k == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
		seen := map[string]int{}
		for _, h := range rcv.all() {
			seen[h.header.Get("X-Ferry-Event-Id")]++
		}
		if len(seen) != n {
			t.Fatalf("%d events received, want %d", len(seen), n)
		}
		for id, k := range seen {
			if k != 1 {
				t.Errorf("event %s received %d times", id, k)
			}
		}
	})
}
