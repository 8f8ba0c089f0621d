package notify_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/tlsutil"
	"github.com/ferryhq/ferry/notify"
)

func TestParseRelay(t *testing.T) {
	for _, c := range []struct {
		url                   string
		addr, tls, user, pass string
		insecure              bool
		err                   string
	}{
		{url: "smtp://user:pa%40ss@mail.example:587?tls=starttls", addr: "mail.example:587", tls: "starttls", user: "user", pass: "pa@ss"},
		{url: "smtp://mail.example", addr: "mail.example:587", tls: "starttls"},
		{url: "smtps://u:p@mail.example", addr: "mail.example:465", tls: "implicit", user: "u", pass: "p"},
		{url: "smtp://mail.example?tls=none", addr: "mail.example:25", tls: "none"},
		{url: "smtp://mail.example:2525?tls=implicit", addr: "mail.example:2525", tls: "implicit"},
		{url: "smtp://u:p@[::1]:25?tls=none&insecure_auth=true", addr: "[::1]:25", tls: "none", user: "u", pass: "p", insecure: true},
		{url: "smtp://u:p@mail.example:25?tls=none", err: "in the clear"},
		{url: "smtp://mail.example?tls=maybe", err: "tls="},
		{url: "http://mail.example", err: "scheme"},
		{url: "smtp://mail.example?tsl=none", err: "unknown parameter"},
		{url: "smtp:///nohost", err: "no host"},
		{url: "smtp://u:p@mail.example?insecure_auth=perhaps", err: "insecure_auth"},
	} {
		r, err := notify.ParseRelay(c.url)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one with %q", c.url, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if r.Addr != c.addr || r.TLS != c.tls || r.Username != c.user || r.Password != c.pass || r.AllowInsecureAuth != c.insecure {
			t.Errorf("%s: %+v", c.url, r)
		}
		if c.pass != "" && strings.Contains(r.String(), ":"+c.pass+"@") {
			t.Errorf("%s: String() shows the password: %s", c.url, r.String())
		}
	}
}

func testTLS(t *testing.T) (server, client *tls.Config) {
	server, _, err := tlsutil.Load("", "", t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(server.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return server, &tls.Config{RootCAs: pool, ServerName: leaf.DNSNames[0]}
}

// AUTH PLAIN over STARTTLS and over implicit TLS, with the relay's
// certificate verified; AUTH is never sent on a plain connection unless
// allowed, and a refused login is temporary.
func TestRelayTLSAndAuth(t *testing.T) {
	srvTLS, cliTLS := testTLS(t)
	users := map[string]string{"ferry": "s3cret"}
	msg := []byte("Subject: hi\r\n\r\nhello\r\n")
	ctx := context.Background()
	for _, mode := range []string{"starttls", "implicit"} {
		t.Run(mode, func(t *testing.T) {
			rl := newRelay(t, relayOpts{users: users, tls: srvTLS, implicit: mode == "implicit"})
			r, err := notify.ParseRelay("smtp://ferry:s3cret@" + rl.addr + "?tls=" + mode)
			if err != nil {
				t.Fatal(err)
			}
			r.TLSConfig = cliTLS
			for range 3 { // the connection is kept and reused
				res, err := r.Send(ctx, "alerts@ferry.test", []string{"a@x.example"}, msg)
				if err != nil || len(res.Accepted) != 1 {
					t.Fatalf("Send: %+v, %v", res, err)
				}
			}
			got := rl.wait(3, 5*time.Second)
			if got[0].User != "ferry" || got[0].From != "alerts@ferry.test" {
				t.Errorf("received %+v", got[0])
			}
			r.Close()

			bad, _ := notify.ParseRelay("smtp://ferry:wrong@" + rl.addr + "?tls=" + mode)
			bad.TLSConfig = cliTLS
			_, err = bad.Send(ctx, "alerts@ferry.test", []string{"a@x.example"}, msg)
			var se *notify.SendError
			if !errors.As(err, &se) || !se.Temporary || !strings.Contains(err.Error(), "535") {
				t.Errorf("wrong password: %v", err)
			}
			untrusted, _ := notify.ParseRelay("smtp://ferry:s3cret@" + rl.addr + "?tls=" + mode)
			if _, err := untrusted.Send(ctx, "alerts@ferry.test", []string{"a@x.example"}, msg); err == nil ||
				!strings.Contains(err.Error(), "certificate") {
				t.Errorf("an unverified certificate was accepted: %v", err)
			}
		})
	}
	t.Run("plain", func(t *testing.T) {
		rl := newRelay(t, relayOpts{users: users})
		r := &notify.Relay{Addr: rl.addr, TLS: notify.TLSNone, Username: "ferry", Password: "s3cret"}
		_, err := r.Send(ctx, "alerts@ferry.test", []string{"a@x.example"}, msg)
		if err == nil || !strings.Contains(err.Error(), "without TLS") {
			t.Errorf("AUTH on a plain connection: %v", err)
		}
		r.AllowInsecureAuth = true
		if _, err := r.Send(ctx, "alerts@ferry.test", []string{"a@x.example"}, msg); err != nil {
			t.Errorf("with insecure_auth: %v", err)
		}
		if got := rl.wait(1, 5*time.Second); got[0].User != "ferry" {
			t.Errorf("received %+v", got[0])
		}
	})
	t.Run("starttls-missing", func(t *testing.T) {
		rl := newRelay(t, relayOpts{}) // offers no STARTTLS
		r, _ := notify.ParseRelay("smtp://" + rl.addr)
		_, err := r.Send(ctx, "alerts@ferry.test", []string{"a@x.example"}, msg)
		var se *notify.SendError
		if !errors.As(err, &se) || !se.Temporary || !strings.Contains(err.Error(), "STARTTLS") {
			t.Errorf("relay without STARTTLS: %v", err)
		}
	})
}
