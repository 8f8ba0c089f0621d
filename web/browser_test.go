package web_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// artifacts is where the browser test leaves its screenshots (gitignored).
const artifacts = "../test-artifacts/web"

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
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 10*time.Minute)
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

// shot saves a full-page screenshot as test-artifacts/web/<name>.png.
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

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// acceptConfirms makes the page's confirm() say yes, as a user would.
func acceptConfirms() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[any]("window.confirm = () => true")(ctx, tg)
		return err
	})
}

func TestBrowser(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, sqlite())
	base := e.base

	// Sign in.
	run(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	shot(t, ctx, "01-login")
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#token"), "ferry_wrong"), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")))
	if s := text(t, ctx, "#login-error"); !strings.Contains(s, "unknown or revoked") {
		t.Fatalf("login error: %q", s)
	}
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#token"), e.admin), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#stat-uploads")))

	// Create a partner, first with mistakes.
	shot(t, ctx, "05a-dashboard-empty")
	run(t, ctx, chromedp.Navigate(base+"/partners"), chromedp.Click(chromedp.CSS("#new-partner")), chromedp.WaitVisible(chromedp.CSS("#slug")),
		chromedp.SendKeys(chromedp.CSS("#slug"), "ACME Corp"),
		chromedp.SendKeys(chromedp.CSS("#contacts"), "ops@acme.example\nnot-an-address"),
		chromedp.SetValue(chromedp.CSS("#quota_bytes"), "1G"),
		chromedp.Click(chromedp.CSS(`form[action="/partners"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#slug-err .field-error")))
	shot(t, ctx, "02-partner-new-errors")
	run(t, ctx, chromedp.SetValue(chromedp.CSS("#slug"), "acme"), chromedp.SetValue(chromedp.CSS("#name"), "ACME Corp"),
		chromedp.SetValue(chromedp.CSS("#contacts"), "ops@acme.example\nfinance@acme.example"),
		chromedp.Click(chromedp.CSS(`form[action="/partners"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#new-account")))
	if s := text(t, ctx, ".flash"); s != "Partner created." {
		t.Errorf("flash: %q", s)
	}

	// An account; its password is shown once.
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
		chromedp.Click(chromedp.CSS(`form[action="/partners/acme/accounts"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#pw")))
	shot(t, ctx, "04-account-password")
	pw := text(t, ctx, "#pw")
	if len(pw) < 16 {
		t.Fatalf("password %q", pw)
	}
	// The create redirected to a page of its own (POST-redirect-GET):
	// reloading it shows that the password was shown, and creates nothing.
	if loc := eval[string](t, ctx, "location.pathname"); loc != "/partners/acme/accounts/alice/password" {
		t.Errorf("after the create the browser is at %s", loc)
	}
	run(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#pw-gone")))
	if n := eval[int](t, ctx, "document.querySelectorAll('#pw').length"); n != 0 {
		t.Error("the password is shown again after a reload")
	}
	if list, err := e.st.AccountsByPartner(context.Background(), mustPartner(t, e, "acme").ID); err != nil || len(list) != 1 {
		t.Fatalf("accounts after a reload: %d %v", len(list), err)
	}

	// Upload over FTP with it, and stay connected.
	fc, err := ftp.Dial(e.ftpAddr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Quit()
	if err := fc.Login("alice", pw); err != nil {
		t.Fatalf("FTP login with the shown password: %v", err)
	}
	if err := fc.Stor("invoice-2026-11.csv", bytes.NewReader(bytes.Repeat([]byte("a,b,c\n"), 5000))); err != nil {
		t.Fatal(err)
	}
	storetest.WaitUploadsFinished(t, e.st) // marked done after the 226, in the background

	run(t, ctx, chromedp.Navigate(base+"/partners/acme"), chromedp.WaitVisible(chromedp.CSS("#partner-form")))
	shot(t, ctx, "03-partner")
	run(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#stat-uploads")))
	if s := text(t, ctx, "#stat-uploads"); s != "1" {
		t.Errorf("dashboard uploads today: %q", s)
	}
	if s := text(t, ctx, "#stat-sessions"); s != "1" {
		t.Errorf("dashboard sessions: %q", s)
	}
	shot(t, ctx, "05-dashboard")

	run(t, ctx, chromedp.Navigate(base+"/transfers"), chromedp.WaitVisible(chromedp.CSS("#transfers")))
	if s := text(t, ctx, "#transfers"); !strings.Contains(s, "/invoice-2026-11.csv") || !strings.Contains(s, "alice") {
		t.Errorf("transfers: %q", s)
	}
	shot(t, ctx, "06-transfers")
	run(t, ctx, chromedp.Navigate(base+"/partners/acme/files"), chromedp.WaitVisible(chromedp.CSS("main table")))
	shot(t, ctx, "07-files")

	// A dead notification, retried.
	run(t, ctx, chromedp.Navigate(base+"/partners/acme"),
		chromedp.Click(chromedp.CSS(`form[action="/partners/acme/test-notification"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#notifications")))
	list, _, err := e.outbox.List(context.Background(), notifyFilter())
	if err != nil || len(list) != 1 {
		t.Fatalf("outbox: %v %v", list, err)
	}
	makeDead(t, e, list[0].ID)
	run(t, ctx, chromedp.Navigate(base+"/notifications?status=dead"), chromedp.WaitVisible(chromedp.CSS("#notifications")))
	shot(t, ctx, "08-notifications-dead")
	run(t, ctx, chromedp.Click(chromedp.CSS(`#notifications form[action$="/retry"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	if n, _ := e.outbox.Get(context.Background(), list[0].ID); n.Status != store.NotifyPending {
		t.Errorf("after retry: %s", n.Status)
	}

	// Kick the FTP session (through the confirm dialog).
	run(t, ctx, chromedp.Navigate(base+"/sessions"), chromedp.WaitVisible(chromedp.CSS("#sessions")))
	shot(t, ctx, "09-sessions")
	run(t, ctx, acceptConfirms(), chromedp.Click(chromedp.CSS(`#sessions form[action$="/kick"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	if s := text(t, ctx, ".flash"); s != "Session closed." {
		t.Errorf("flash after kick: %q", s)
	}
	waitFor(t, func() bool { return len(e.ftp.Sessions()) == 0 })

	// Mailbox.
	raw := "From: ops@acme.example\r\nTo: acme@ferry.test\r\nSubject: Invoices for November\r\n\r\nHello,\r\n\r\nthe November invoices are in /outbox.\r\n"
	if _, err := e.mail.Deliver(context.Background(), "acme", []byte(raw)); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Navigate(base+"/partners/acme/mailbox"), chromedp.WaitVisible(chromedp.CSS("main table")))
	shot(t, ctx, "10-mailbox")
	run(t, ctx, chromedp.Click(chromedp.CSS("main table a")), chromedp.WaitVisible(chromedp.CSS("pre.mail")))
	shot(t, ctx, "11-message")

	// On a phone.
	run(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#stat-uploads")))
	shot(t, ctx, "12-phone-dashboard")
	run(t, ctx, chromedp.Navigate(base+"/transfers"), chromedp.WaitVisible(chromedp.CSS("#transfers")))
	shot(t, ctx, "13-phone-transfers")
	run(t, ctx, chromedp.EmulateViewport(1280, 900))

	// An auditor: no mutating control anywhere, 403 when posting anyway.
	run(t, ctx, chromedp.Navigate(base+"/"), chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), e.auditor), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#stat-uploads")))
	for _, path := range []string{"/", "/partners", "/partners/acme", "/partners/acme/files", "/transfers", "/sessions",
		"/notifications", "/partners/acme/mailbox"} {
		run(t, ctx, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main")))
		n := eval[int](t, ctx, `document.querySelectorAll('form[method=post]:not([action="/logout"]), a[href="/partners/new"]').length`)
		if n != 0 {
			t.Errorf("auditor sees %d mutating controls on %s", n, path)
		}
	}
	shot(t, ctx, "14-auditor-partner")
	status := eval[int](t, ctx, `fetch('/partners/acme/enabled', {method: 'POST', body: new URLSearchParams({
		csrf: document.querySelector('input[name=csrf]').value, enabled: 'false'})}).then(r => r.status)`)
	if status != 403 {
		t.Errorf("auditor POST: %d", status)
	}
	// The same as a form submission, to see the page it gets.
	run(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](`(() => { const f = document.createElement('form'); f.method = 'post';
		f.action = '/partners/acme/enabled'; const c = document.querySelector('input[name=csrf]').cloneNode();
		f.appendChild(c); document.body.appendChild(f); f.submit(); })()`)(ctx, tg)
		return err
	}),
		chromedp.WaitVisible(chromedp.CSS(".alert")))
	if s := text(t, ctx, ".alert"); !strings.Contains(s, "may only read") {
		t.Errorf("auditor post page: %q", s)
	}
	shot(t, ctx, "15-auditor-403")
	if p := mustPartner(t, e, "acme"); !p.Enabled {
		t.Error("the auditor disabled the partner")
	}

	// An admin user signs in with username and password (ferry admin create).
	e.addUser("carol", "carol's password", "admin")
	run(t, ctx, chromedp.Navigate(base+"/"), chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#login-username")))
	shot(t, ctx, "16-login-user")
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#login-username"), "carol"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "carol's password"), chromedp.Submit(chromedp.CSS("#login-password")),
		chromedp.WaitVisible(chromedp.CSS("#stat-uploads")))
	if s := text(t, ctx, "header .who"); !strings.Contains(s, "carol") || !strings.Contains(s, "admin") {
		t.Errorf("signed in as %q, want carol (admin)", s)
	}
	run(t, ctx, chromedp.Navigate(base+"/partners/acme"), chromedp.WaitVisible(chromedp.CSS("#partner-form")))
	shot(t, ctx, "17-user-partner")
}
