package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestFirstError(t *testing.T) {
	for _, c := range []struct{ name, out, want string }{
		{"compile error after progress lines",
			"go: downloading github.com/foxcpp/maddy v0.8.1\n# github.com/foxcpp/go-imap-mess\n" +
				"/m/mailbox.go:28:17: undefined: backend.Conn\n/m/sequpdate.go:29:17: undefined: backend.Conn\n",
			"/m/mailbox.go:28:17: undefined: backend.Conn"},
		{"proxy refusal", "go: github.com/foxcpp/maddy/cmd/maddy@v0.8.1: module lookup disabled by GOPROXY=off\n",
			"go: github.com/foxcpp/maddy/cmd/maddy@v0.8.1: module lookup disabled by GOPROXY=off"},
		{"no output", "", "exit status 1"},
	} {
		if got := firstError([]byte(c.out), errors.New("exit status 1")); got != c.want {
			t.Errorf("%s: firstError = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestReportBestReference(t *testing.T) {
	o := &options{messages: 10, msgSize: 10 << 10, senders: 2, fetch: 5, fetchRepeat: 1, rounds: 1}
	r := newResults()
	r.add(mSMTPAccept, nameFerry, 100)
	r.add(mSMTPAccept, namePostfix, 80)
	r.add(mSMTPAccept, nameMaddy, 200)
	r.add(mFetch, nameFerry, 4)
	r.add(mFetch, nameDovecot, 2)
	r.add(mFetch, nameMaddy, 8)
	r.add(mRetr, nameFerry, 10)
	r.add(mRetr, nameDovecot, 20)
	for _, c := range []struct{ metric, want string }{
		{mSMTPAccept, nameMaddy}, // higher is better
		{mFetch, nameDovecot},    // lower is better
		{mRetr, nameDovecot},     // maddy has no POP3
	} {
		for _, m := range metrics {
			if m.id == c.metric {
				if got := r.best(m); got != c.want {
					t.Errorf("%s: best = %q, want %q", c.metric, got, c.want)
				}
			}
		}
	}
	var out bytes.Buffer
	r.print(&out, o)
	for _, want := range []string{"0.50x (maddy)", "2.00x (Dovecot)", "0.50x (Dovecot)", " maddy|"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}

	r = newResults()
	r.absent = []string{"maddy absent: it could not be built"}
	r.add(mRetr, nameFerry, 10)
	r.add(mRetr, nameDovecot, 20)
	out.Reset()
	r.print(&out, o)
	if s := out.String(); !strings.Contains(s, "\nmaddy absent: it could not be built\n") || strings.Contains(s, " maddy|") {
		t.Errorf("report without maddy:\n%s", s)
	}
}
