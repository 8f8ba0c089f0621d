package web_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store/storetest"
)

// splitWords lists the words (runs of non-space) of the elements matching
// sel that the browser laid out over more than one line.
const splitWords = `((sel) => {
	const bad = [];
	for (const el of document.querySelectorAll(sel)) {
		const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
		for (let n = walk.nextNode(); n; n = walk.nextNode()) {
			const re = /\S+/g;
			let m;
			while ((m = re.exec(n.data))) {
				const r = document.createRange();
				r.setStart(n, m.index);
				r.setEnd(n, m.index + m[0].length);
				const lines = new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top)));
				if (lines.size > 1) bad.push(m[0]);
			}
		}
	}
	return bad;
})`

// noSplitWords checks, at every width from 320 to 1280 pixels, that no
// word of the elements matching sel is broken over two lines; n is how
// many such elements the page must have.
func noSplitWords(t *testing.T, ctx context.Context, url, sel string, n int) {
	t.Helper()
	run(t, ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("main")))
	if got := eval[int](t, ctx, fmt.Sprintf("document.querySelectorAll(%q).length", sel)); got != n {
		t.Fatalf("%s: %d elements %s, want %d", url, got, sel, n)
	}
	for w := int64(320); w <= 1280; w += 20 {
		run(t, ctx, chromedp.EmulateViewport(w, 800))
		if bad := eval[[]string](t, ctx, splitWords+fmt.Sprintf("(%q)", sel)); len(bad) > 0 {
			shot(t, ctx, fmt.Sprintf("split-words-%d", w))
			t.Errorf("%s at %d px: %s broken over two lines: %q", url, w, sel, bad)
			break
		}
	}
	run(t, ctx, chromedp.EmulateViewport(1280, 900))
}

// Counts read as English ("1 file", "2 files"), client addresses and the
// sign-in hints' words stay whole at any window width.
func TestBrowserCountsAndWrapping(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, sqlite())
	bg := context.Background()
	if _, err := e.svc.CreatePartner(bg, partners.PartnerInput{Slug: "acme", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.CreateAccount(bg, partners.AccountInput{Partner: "acme", Username: "alice", Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}

	// The sign-in page: its hints name commands; no word breaks in two.
	noSplitWords(t, ctx, e.base+"/login", ".hint", 2)

	// One upload by one live session.
	fc, err := ftp.Dial(e.ftpAddr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Quit()
	if err := fc.Login("alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	if err := fc.Stor("one.csv", bytes.NewReader([]byte("a,b\n"))); err != nil {
		t.Fatal(err)
	}
	storetest.WaitUploadsFinished(t, e.st) // marked done after the 226, in the background
	run(t, ctx, chromedp.Navigate(e.base+"/login"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), e.admin), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#stat-uploads")))
	for sel, want := range map[string]string{
		".stat:has(#stat-sessions) .l":      "live FTP session",
		".stat:has(#stat-uploads) .l":       "upload today (UTC)",
		".stat:has(#stat-failed) .l":        "failed logins today",
		`.stat:has(a[href="/partners"]) .l`: "partner enabled",
	} {
		if got := text(t, ctx, sel); got != want {
			t.Errorf("dashboard %s: %q, want %q", sel, got, want)
		}
	}
	if got := text(t, ctx, "#chart-h + svg + p, #chart-h ~ p"); !strings.HasSuffix(got, "1 upload in 7 days.") {
		t.Errorf("chart summary: %q", got)
	}
	run(t, ctx, chromedp.Navigate(e.base+"/partners"), chromedp.WaitVisible(chromedp.CSS("main table")))
	if got := text(t, ctx, `main table td[data-label="Usage"]`); !strings.HasSuffix(got, ", 1 file") {
		t.Errorf("partners usage: %q", got)
	}
	run(t, ctx, chromedp.Navigate(e.base+"/partners/acme"), chromedp.WaitVisible(chromedp.CSS("#partner-form")))
	if got := text(t, ctx, ".stat:last-child .l"); got != "live session" {
		t.Errorf("partner sessions: %q", got)
	}

	// Client addresses: on the dashboard, the sessions and the transfers.
	noSplitWords(t, ctx, e.base+"/", `td[data-label="From"]`, 1)
	noSplitWords(t, ctx, e.base+"/sessions", `td[data-label="From"]`, 1)
	noSplitWords(t, ctx, e.base+"/transfers", `td[data-label="From"]`, 2) // the login and the upload
}
