package portal_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/store"
)

// artifacts is where the browser test leaves its screenshots (gitignored).
const artifacts = "../test-artifacts/portal"

// browser starts Debian's headless Chromium for a test.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := testenv.Need(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(cancelTimeout)
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(step, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		shot(t, ctx, "failure")
		t.Fatalf("browser (at %s): %v", loc, err)
	}
}

// shot saves a full-page screenshot as test-artifacts/portal/<name>.png.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(artifacts, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// failingBody hands the portal n bytes of a request's body, then the error
// a dropped connection gives.
type failingBody struct {
	r io.Reader
	n int
}

func (f *failingBody) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// TestBrowser signs in with Chromium, uploads two files at once with the
// page's own control (one in several parts, whose connection is killed in
// the middle of a part and which goes on by itself), watches both bars
// reach 100 %, downloads the file byte-exact, and is refused a delete its
// permissions do not allow.
func TestBrowser(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, sqlite())
	e.partner("acme", "alice", "", "")
	e.partner("acme", "reader", "list,download", "")
	base := e.base

	// What the browser uploads: a file of 5 parts of 64 KiB and a small one.
	dir := t.TempDir()
	big := make([]byte, 300_000)
	for i := range big {
		big[i] = byte(i*31 + i>>8)
	}
	small := []byte("Order 4711\nqty;item\n3;widgets\n")
	bigPath, smallPath := filepath.Join(dir, "shipment data.bin"), filepath.Join(dir, "order-4711.csv")
	for p, b := range map[string][]byte{bigPath: big, smallPath: small} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The third part of the big file loses its connection half-way the
	// first time it is sent.
	var killed, parts atomic.Int32
	e.wrap = func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodPost && r.URL.Path == "/portal/upload" && strings.Contains(r.URL.RawQuery, "shipment") {
			parts.Add(1)
			if strings.HasPrefix(r.Header.Get("Content-Range"), "bytes 131072-") && killed.CompareAndSwap(0, 1) {
				r.Body = io.NopCloser(&failingBody{r: r.Body, n: 30_000})
				next.ServeHTTP(httptest.NewRecorder(), r)
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
				return
			}
		}
		next.ServeHTTP(w, r)
	}

	// Sign in, first with a wrong password.
	run(t, ctx, chromedp.Navigate(base+"/portal/"), chromedp.WaitVisible(chromedp.CSS("#username")))
	shot(t, ctx, "01-signin")
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), "nope"),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#signin-error")))
	shot(t, ctx, "02-signin-failed")
	run(t, ctx, chromedp.SetValue(chromedp.CSS("#password"), testPassword), chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#upload-card")))
	shot(t, ctx, "03-files-empty")

	// A folder, then the uploads into it.
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#folder"), "December"), chromedp.Click(chromedp.CSS("#mkdir")),
		chromedp.WaitVisible(chromedp.CSS("#done")), chromedp.Click(chromedp.CSS(`a.dir`)), chromedp.WaitVisible(chromedp.CSS("#empty")))
	run(t, ctx, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{bigPath, smallPath}))
	run(t, ctx, chromedp.WaitVisible(chromedp.CSS("#progress li.ok + li.ok, #progress li.ok ~ li.ok")))
	shot(t, ctx, "04-upload-progress")
	pcts := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#progress .pct')).map(e => e.textContent)`)
	bars := eval[[]float64](t, ctx, `Array.from(document.querySelectorAll('#progress progress')).map(e => e.value)`)
	if len(pcts) != 2 || pcts[0] != "100 %" || pcts[1] != "100 %" || bars[0] != 100 || bars[1] != 100 {
		t.Fatalf("progress: %v %v", pcts, bars)
	}
	run(t, ctx, chromedp.WaitVisible(chromedp.CSS("#done")))
	shot(t, ctx, "05-files-uploaded")
	if killed.Load() != 1 || parts.Load() < 6 {
		t.Fatalf("the interrupted part: killed %d, %d part requests", killed.Load(), parts.Load())
	}
	for name, want := range map[string][]byte{"shipment data.bin": big, "order-4711.csv": small} {
		got, err := os.ReadFile(filepath.Join(e.fc.PartnerDir("acme"), "December", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s on disk: %d bytes, %v", name, len(got), err)
		}
	}
	okRows := 0
	for _, r := range e.rows(store.TransferFilter{Operation: store.OpUpload}) {
		if r.Status == store.StatusOK {
			okRows++
			if r.Protocol != "portal" || r.Username != "alice" {
				t.Errorf("row: %+v", r)
			}
		}
	}
	if okRows != 2 {
		t.Fatalf("upload rows: %d", okRows)
	}

	// Download through the page's link, with the browser's session: byte-exact.
	sum := eval[string](t, ctx, `(async () => {
		const a = Array.from(document.querySelectorAll('a.file')).find(a => a.textContent === 'shipment data.bin');
		const buf = await (await fetch(a.href)).arrayBuffer();
		const h = await crypto.subtle.digest('SHA-256', buf);
		return Array.from(new Uint8Array(h)).map(b => b.toString(16).padStart(2, '0')).join('');
	})()`)
	if want := fmt.Sprintf("%x", sha256.Sum256(big)); sum != want {
		t.Fatalf("download sha256 %s, want %s", sum, want)
	}
	// Drag and drop: a file dropped on the page's drop zone uploads too.
	eval[bool](t, ctx, `(() => {
		const dt = new DataTransfer();
		dt.items.add(new File(['dropped on the page\n'], 'dropped.txt', {type: 'text/plain'}));
		document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
		return true;
	})()`)
	run(t, ctx, chromedp.WaitVisible(chromedp.CSS(`a.file[href$="dropped.txt"]`)))
	if got, err := os.ReadFile(filepath.Join(e.fc.PartnerDir("acme"), "December", "dropped.txt")); err != nil || string(got) != "dropped on the page\n" {
		t.Fatalf("dropped file: %q %v", got, err)
	}

	// Sorting by size puts the big file last, then first.
	run(t, ctx, chromedp.Click(chromedp.CSS(`th a[aria-label="Sort by size"]`)), chromedp.WaitVisible(chromedp.CSS(`th[aria-sort="ascending"]`)))
	if names := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#files tbody tr')).map(r => r.dataset.name)`); len(names) != 3 || names[0] != "dropped.txt" {
		t.Fatalf("sorted by size: %v", names)
	}
	run(t, ctx, chromedp.Click(chromedp.CSS(`th a[aria-label="Sort by size"]`)), chromedp.WaitVisible(chromedp.CSS(`th[aria-sort="descending"]`)))
	if names := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#files tbody tr')).map(r => r.dataset.name)`); names[0] != "shipment data.bin" {
		t.Fatalf("sorted by size, descending: %v", names)
	}

	// On a phone.
	run(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#files")))
	shot(t, ctx, "06-files-phone")
	if w := eval[float64](t, ctx, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the page is %v px wide on a 390 px phone", w)
	}
	run(t, ctx, chromedp.EmulateViewport(1280, 900))

	// Sign out; a reader may not delete: the button is greyed out, and a
	// delete forced past it is refused.
	run(t, ctx, chromedp.Click(chromedp.CSS(`.signout button`)), chromedp.WaitVisible(chromedp.CSS("#username")))
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#username"), "reader"), chromedp.SendKeys(chromedp.CSS("#password"), testPassword),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#files")),
		chromedp.Navigate(base+"/portal/files/December"), chromedp.WaitVisible(chromedp.CSS("#files")))
	shot(t, ctx, "07-files-read-only")
	if n := eval[int](t, ctx, `document.querySelectorAll('form.delete button:not([disabled])').length`); n != 0 {
		t.Fatalf("%d delete buttons enabled for a reader", n)
	}
	eval[bool](t, ctx, `window.confirm = () => true;
		const b = document.querySelector('form.delete button'); b.disabled = false; b.click(); true`)
	run(t, ctx, chromedp.WaitVisible(chromedp.CSS("#error")))
	if s := text(t, ctx, "#error"); !strings.Contains(s, "may not delete") {
		t.Fatalf("forced delete: %q", s)
	}
	shot(t, ctx, "08-delete-refused")
	if _, err := os.Stat(filepath.Join(e.fc.PartnerDir("acme"), "December", "order-4711.csv")); err != nil {
		t.Fatalf("the refused delete deleted: %v", err)
	}
}

// TestBrowserMail reads mail in Chromium: the folder list with its unread
// count, a message with an attachment opened and downloaded, and a
// hostile HTML message whose script, event attributes and javascript:
// links do nothing, even when clicked.
func TestBrowserMail(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, sqlite())
	e.partner("acme", "alice", "", "")
	plain := e.deliver("acme", plainMail)
	att := e.deliver("acme", attachmentMail)
	hostile := e.deliver("acme", hostileHTML)
	run(t, ctx, chromedp.Navigate(e.base+"/portal/mail/"), chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), testPassword),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#messages")))
	shot(t, ctx, "10-mail-inbox")
	if s := text(t, ctx, ".folders .badge"); s != "3" {
		t.Fatalf("unread badge: %q", s)
	}
	run(t, ctx, chromedp.Click(chromedp.CSS(`tr[data-id="`+att+`"] a`)), chromedp.WaitVisible(chromedp.CSS("#attachments")))
	shot(t, ctx, "11-mail-attachment")
	got := eval[string](t, ctx, `(async () => {
		const a = document.querySelector('#attachments a');
		return await (await fetch(a.href)).text();
	})()`)
	if got != "item;price\nwidget;42\n" {
		t.Fatalf("attachment: %q", got)
	}
	run(t, ctx, chromedp.Navigate(e.base+"/portal/mail/message/"+hostile), chromedp.WaitVisible(chromedp.CSS("#greeting")))
	// Click what is left of the links and wait a moment for anything to run.
	eval[bool](t, ctx, `document.querySelectorAll('#body a').forEach(a => { if (!a.href.startsWith('http')) a.click(); }); true`)
	time.Sleep(300 * time.Millisecond)
	if v := eval[string](t, ctx, `String(window.pwned)`); v != "undefined" {
		t.Fatalf("the hostile message ran code: window.pwned = %s", v)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('#body img[src*="tracker"], base, #body script, #body iframe, #body form').length`); n != 0 {
		t.Fatalf("%d hostile elements in the page", n)
	}
	if !strings.Contains(text(t, ctx, "#images-blocked"), "not shown") {
		t.Fatal("no notice of blocked images")
	}
	shot(t, ctx, "12-mail-hostile")
	run(t, ctx, chromedp.Click(chromedp.CSS("#mark-unread")), chromedp.WaitVisible(chromedp.CSS("#messages")))
	if s := text(t, ctx, ".folders .badge"); s != "2" {
		t.Fatalf("unread badge after mark unread: %q", s)
	}

	// Reply to the first message with an attachment; the notifier takes it
	// from the outbox to the operator's relay.
	sk := newSink(t)
	attPath := filepath.Join(t.TempDir(), "invoice-4711.pdf")
	if err := os.WriteFile(attPath, []byte("%PDF-1.4 not really\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Navigate(e.base+"/portal/mail/message/"+plain), chromedp.Click(chromedp.CSS("#reply")),
		chromedp.WaitVisible(chromedp.CSS("#compose")))
	run(t, ctx, chromedp.SetValue(chromedp.CSS("#to"), "Bob Buyer <bob@partner-co.example>"),
		chromedp.SendKeys(chromedp.CSS("#body"), "Invoice attached."), chromedp.SetUploadFiles(chromedp.CSS("#attachment"), []string{attPath}))
	shot(t, ctx, "13-mail-reply")
	run(t, ctx, chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#done")))
	shot(t, ctx, "14-mail-sent")
	e.relayOnce(sk)
	if got := sk.all(); len(got) != 1 || got[0].to[0] != "bob@partner-co.example" ||
		!strings.Contains(string(got[0].data), "Subject: Re: Order 4711 confirmed") || !strings.Contains(string(got[0].data), "invoice-4711.pdf") {
		t.Fatalf("the sink got: %+v", got)
	}

	// Switch on the second step with the code an authenticator app would show.
	run(t, ctx, chromedp.Navigate(e.base+"/portal/account"), chromedp.WaitVisible(chromedp.CSS("#qr")))
	shot(t, ctx, "15-account-totp")
	secret := text(t, ctx, "#totp-secret")
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#code"), e.code(t, secret)), chromedp.Click(chromedp.CSS("#totp-on")),
		chromedp.WaitVisible(chromedp.CSS("#done")))
	if s := text(t, ctx, "#totp-state"); !strings.HasPrefix(s, "On") {
		t.Fatalf("after turning it on: %q", s)
	}
	// Signing in again asks for the code.
	run(t, ctx, chromedp.Click(chromedp.CSS(`.signout button`)), chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"), chromedp.SendKeys(chromedp.CSS("#password"), testPassword),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#code")))
	shot(t, ctx, "16-signin-code")
	e.shift += time.Minute // the app's next code
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#code"), e.code(t, secret)), chromedp.Click(chromedp.CSS("#verify")),
		chromedp.WaitVisible(chromedp.CSS("#upload-card")))
}
