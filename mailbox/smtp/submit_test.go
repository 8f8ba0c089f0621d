package smtp_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/mailbox/smtp"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// An account writing with authenticated SMTP to a domain the operator
// allows (FERRY_MAIL_OUTBOUND_DOMAINS) has its mail queued in the outbox
// for the relay, as the portal's does; other domains stay refused, and
// without authentication nothing is relayed.
func TestSubmissionToOutsideDomain(t *testing.T) {
	testenv.Need(t, "swaks")
	var outbox *notify.Outbox
	e := start(t, storetest.Backend{}, func(s *smtp.Server) {
		outbox = &notify.Outbox{Store: s.Store.DB, Domain: mailtest.Domain}
		s.Submission = &mailbox.Submission{Store: s.Store, LocalDomains: []string{mailtest.Domain},
			OutboundDomains: []string{"partner-co.example"}, Outbound: outbox}
	})
	out := mailtest.Run(t, "swaks", "--server", "127.0.0.1", "--port", e.port, "--tls", "--auth", "PLAIN",
		"--auth-user", "alice", "--auth-password", mailtest.Password, "--from", "acme@"+mailtest.Domain,
		"--to", "bob@partner-co.example,other@"+mailtest.Domain, "--header", "Subject: your order")
	if !strings.Contains(out, "<~  250 ") {
		t.Fatalf("submission:\n%s", out)
	}
	notes, err := e.DB.ListNotifications(context.Background(), store.NotificationFilter{Kind: store.NotifyKindMail})
	if err != nil || len(notes) != 1 || notes[0].PartnerID != e.Acme.ID {
		t.Fatalf("queued mail: %+v %v", notes, err)
	}
	var p notify.OutboundPayload
	if err := json.Unmarshal([]byte(notes[0].Payload), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.To) != 1 || p.To[0] != "bob@partner-co.example" || !strings.Contains(string(p.Raw), "Subject: your order") ||
		!strings.Contains(string(p.Raw), "with ESMTPSA") {
		t.Fatalf("payload: %+v\n%s", p, p.Raw)
	}
	// The local recipient got its copy at once.
	if _, bodies := e.inbox(t, e.Other.ID); len(bodies) != 1 || !strings.Contains(bodies[0], "your order") {
		t.Fatalf("local copy: %q", bodies)
	}
	for _, tc := range []struct{ args []string }{
		{[]string{"--auth", "PLAIN", "--auth-user", "alice", "--auth-password", mailtest.Password, "--to", "x@example.com"}},
		{[]string{"--to", "bob@partner-co.example"}},
	} {
		args := append([]string{"--server", "127.0.0.1", "--port", e.port, "--tls"}, tc.args...)
		out, _ := mailtest.RunErr(t, "swaks", args...)
		if !strings.Contains(out, " 5.7.1") {
			t.Fatalf("%v: want a relay refusal:\n%s", tc.args, out)
		}
	}
	if notes, _ := e.DB.ListNotifications(context.Background(), store.NotificationFilter{Kind: store.NotifyKindMail}); len(notes) != 1 {
		t.Fatalf("refused mail was queued: %d rows", len(notes))
	}
}
