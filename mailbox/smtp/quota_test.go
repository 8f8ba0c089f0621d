package smtp_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store/storetest"
)

// A full mailbox refuses mail with 552 5.2.2 for its recipient only; the
// other recipients get the message, and nothing is stored for the full one.
func TestMailboxFull552(t *testing.T) {
	testenv.Need(t, "python3")
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, b, nil)
			ctx := context.Background()
			quota := int64(3000)
			if _, err := e.Partners.UpdatePartner(ctx, "acme", partners.PartnerPatch{MailQuotaBytes: &quota}, nil); err != nil {
				t.Fatal(err)
			}
			out := mailtest.Python(t, `
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
s.ehlo("py.example.org")
small = b"Subject: small\r\n\r\nhi\r\n"
big = b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 40
print("small", s.sendmail("a@example.org", ["acme@mail.test"], small))
# smtplib announces SIZE: the full mailbox is refused at RCPT, other gets it.
r = s.sendmail("a@example.org", ["acme@mail.test", "other@mail.test"], big)
print("mixed", r["acme@mail.test"][0], r["acme@mail.test"][1].decode(), "other" in str(r))
try:
    s.sendmail("a@example.org", ["acme@mail.test"], big)
except smtplib.SMTPRecipientsRefused as e:
    print("alone", e.recipients["acme@mail.test"][0], e.recipients["acme@mail.test"][1].decode())
# Without SIZE the refusal comes after DATA.
s.mail("a@example.org")
print("rcpt", s.rcpt("acme@mail.test")[0])
code, msg = s.data(big)
print("data", code, msg.decode())
s.rset()
s.mail("a@example.org")
s.rcpt("acme@mail.test"); s.rcpt("other@mail.test")
code, msg = s.data(big)
print("datamixed", code, msg.decode())
s.quit()
`, e.port)
			for _, want := range []string{"small {}", "mixed 552 5.2.2 mailbox full False", "alone 552 5.2.2 mailbox full",
				"rcpt 250", "data 552 5.2.2 mailbox full", "datamixed 452 4.2.2"} {
				if !strings.Contains(out, want) {
					t.Errorf("missing %q in:\n%s", want, out)
				}
			}
			if msgs, _ := e.inbox(t, e.Acme.ID); len(msgs) != 1 || msgs[0].Subject != "small" {
				t.Fatalf("acme: %+v", msgs)
			}
			if msgs, _ := e.inbox(t, e.Other.ID); len(msgs) != 1 || msgs[0].Subject != "big" {
				t.Fatalf("other: %+v", msgs)
			}
			_, used, err := e.Mail.Quota(ctx, e.Acme.ID)
			if sum, _ := e.DB.MailUsage(ctx, e.Acme.ID); err != nil || used != sum || used > quota {
				t.Fatalf("usage %d, sum %d, quota %d: %v", used, sum, quota, err)
			}
		})
	}
}
