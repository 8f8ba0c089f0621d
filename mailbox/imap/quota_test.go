package imap_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store/storetest"
)

// APPEND and COPY past the mailbox quota fail with NO [OVERQUOTA]
// (RFC 9208); an EXPUNGE makes room again.
func TestImaplibOverQuota(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, b)
			raw := e.deliver(t, e.Mail, "first", "some words")
			quota := int64(2*len(raw) + len(raw)/2)
			if _, err := e.Partners.UpdatePartner(context.Background(), "acme", partners.PartnerPatch{MailQuotaBytes: &quota}, nil); err != nil {
				t.Fatal(err)
			}
			lit, _ := json.Marshal(string(raw))
			out := e.imaplib(t, `
msg = `+string(lit)+`.encode()
out["append1"] = s(M.append("INBOX", None, None, msg))
try:
    out["append2"] = s(M.append("INBOX", None, None, msg))
except M.error as err:
    out["append2"] = str(err)
out["create"] = s(M.create("Archive"))
M.select("INBOX")
try:
    out["copy"] = s(M.copy("1", "Archive"))
except M.error as err:
    out["copy"] = str(err)
out["store"] = s(M.store("1", "+FLAGS", "(\\Deleted)"))
out["expunge"] = s(M.expunge())
out["append3"] = s(M.append("INBOX", None, None, msg))
`)
			want := map[string]string{
				"append1": `["OK"`,
				"append2": `[OVERQUOTA]`,
				"copy":    `[OVERQUOTA]`,
				"expunge": `["OK"`,
				"append3": `["OK"`,
			}
			for k, w := range want {
				got, _ := json.Marshal(out[k])
				if !strings.Contains(string(got), w) {
					t.Errorf("%s: %s does not contain %s", k, got, w)
				}
			}
			ctx := context.Background()
			_, used, _ := e.Mail.Quota(ctx, e.Acme.ID)
			if sum, _ := e.DB.MailUsage(ctx, e.Acme.ID); used != sum || used != int64(2*len(raw)) {
				t.Fatalf("usage %d, sum %d, want %d", used, sum, 2*len(raw))
			}
		})
	}
}
