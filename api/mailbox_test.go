package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

type mailMessageDoc struct {
	ID           string     `json:"id"`
	Folder       string     `json:"folder"`
	UID          int64      `json:"uid"`
	Subject      string     `json:"subject"`
	From         string     `json:"from"`
	MessageID    string     `json:"message_id"`
	Date         *time.Time `json:"date"`
	InternalDate time.Time  `json:"internal_date"`
	Size         int64      `json:"size"`
	Flags        []string   `json:"flags"`
	Header       string     `json:"header"`
}

type mailboxDoc struct {
	PartnerID string `json:"partner_id"`
	Slug      string `json:"slug"`
	Messages  int64  `json:"messages"`
	Unseen    int64  `json:"unseen"`
	Bytes     int64  `json:"bytes"`
	Folders   []struct {
		Name     string `json:"name"`
		Messages int64  `json:"messages"`
		Unseen   int64  `json:"unseen"`
		Bytes    int64  `json:"bytes"`
	} `json:"folders"`
}

func rawMail(n int) []byte {
	return fmt.Appendf(nil, "From: Sender <sender@example.com>\r\nTo: acme@ferry.test\r\nSubject: msg %d\r\n"+
		"Message-ID: <m%d@example.com>\r\nDate: Mon, 3 Mar 2025 10:0%d:00 +0000\r\n\r\nbody %d\r\n", n, n, n, n)
}

func TestMailbox(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		h := newHarnessOn(t, st, harnessOpts{})
		ctx := context.Background()
		acme := h.createPartner("acme")
		h.createPartner("other")

		var raws [][]byte
		for i := 1; i <= 5; i++ {
			raws = append(raws, rawMail(i))
			if _, err := h.mail.Deliver(ctx, "acme", raws[i-1]); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.mail.CreateFolder(ctx, acme.ID, "Archive/2025"); err != nil {
			t.Fatal(err)
		}
		if _, err := h.mail.DeliverTo(ctx, []mailbox.Recipient{{PartnerID: acme.ID, Folder: "Archive/2025"}},
			bytes.NewReader(rawMail(6)), mailbox.DeliverOptions{Flags: []string{`\Seen`}}); err != nil {
			t.Fatal(err)
		}

		// The summary.
		var mb mailboxDoc
		h.do("GET", "/api/v1/partners/acme/mailbox", h.auditor, nil).want(t, http.StatusOK).decode(t, &mb)
		var names []string
		for _, f := range mb.Folders {
			names = append(names, f.Name)
		}
		var total int64
		for _, r := range raws {
			total += int64(len(r))
		}
		if mb.PartnerID != acme.ID || mb.Slug != "acme" || mb.Messages != 6 || mb.Unseen != 5 ||
			mb.Bytes != total+int64(len(rawMail(6))) || !slices.Equal(names, []string{"Archive", "Archive/2025", "INBOX"}) {
			t.Fatalf("mailbox: %+v", mb)
		}
		for _, f := range mb.Folders {
			if f.Name == "INBOX" && (f.Messages != 5 || f.Unseen != 5 || f.Bytes != total) {
				t.Errorf("INBOX: %+v", f)
			}
		}
		h.do("GET", "/api/v1/partners/other/mailbox", h.auditor, nil).want(t, http.StatusOK).decode(t, &mb)
		if mb.Messages != 0 || len(mb.Folders) != 1 {
			t.Errorf("empty mailbox: %+v", mb)
		}
		h.do("GET", "/api/v1/partners/nobody/mailbox", h.auditor, nil).want(t, http.StatusNotFound).problem(t)

		// Paged headers, newest first.
		msgs := listAll[mailMessageDoc](t, h, "/api/v1/partners/acme/mailbox/messages?limit=2")
		var uids []int64
		for _, m := range msgs {
			uids = append(uids, m.UID)
		}
		if !slices.Equal(uids, []int64{5, 4, 3, 2, 1}) {
			t.Fatalf("INBOX UIDs: %v", uids)
		}
		if m := msgs[2]; m.Subject != "msg 3" || m.From != "Sender <sender@example.com>" && m.From != "sender@example.com" ||
			m.MessageID != "m3@example.com" || m.Date == nil || m.Size != int64(len(raws[2])) || m.Folder != "INBOX" || len(m.Flags) != 0 {
			t.Errorf("message 3: %+v", m)
		}
		archived := listAll[mailMessageDoc](t, h, "/api/v1/partners/"+acme.ID+"/mailbox/messages?folder=Archive/2025")
		if len(archived) != 1 || !slices.Equal(archived[0].Flags, []string{`\Seen`}) || archived[0].Folder != "Archive/2025" {
			t.Fatalf("Archive/2025: %+v", archived)
		}
		if got := listAll[mailMessageDoc](t, h, "/api/v1/partners/acme/mailbox/messages?folder=inbox&cursor=3"); len(got) != 2 {
			t.Errorf("before UID 3: %+v", got)
		}
		h.do("GET", "/api/v1/partners/acme/mailbox/messages?folder=Nowhere", h.auditor, nil).want(t, http.StatusNotFound).problem(t)
		// Folder names other than INBOX are case-sensitive.
		h.do("GET", "/api/v1/partners/acme/mailbox/messages?folder=archive/2025", h.auditor, nil).want(t, http.StatusNotFound)
		for q, field := range map[string]string{
			"folder=": "folder", "folder=a//b": "folder", "cursor=x": "cursor", "cursor=0": "cursor", "limit=501": "limit", "uid=1": "uid",
		} {
			p := h.do("GET", "/api/v1/partners/acme/mailbox/messages?"+q, h.auditor, nil).want(t, http.StatusBadRequest).problem(t)
			if !p.hasField(field) {
				t.Errorf("%s: 400 does not name %s: %+v", q, field, p.Errors)
			}
		}

		// One message, by UID or by id: summary and header; reading sets no flag.
		var one, byID mailMessageDoc
		h.do("GET", "/api/v1/partners/acme/mailbox/messages/3", h.auditor, nil).want(t, http.StatusOK).decode(t, &one)
		if one.UID != 3 || one.Subject != "msg 3" || !strings.Contains(one.Header, "Subject: msg 3\r\n") ||
			strings.Contains(one.Header, "body 3") {
			t.Fatalf("message 3: %+v", one)
		}
		h.do("GET", "/api/v1/partners/acme/mailbox/messages/"+one.ID, h.auditor, nil).want(t, http.StatusOK).decode(t, &byID)
		if byID.UID != 3 || byID.Folder != "INBOX" || byID.ID != one.ID {
			t.Fatalf("message by id: %+v", byID)
		}
		r := h.do("GET", "/api/v1/partners/acme/mailbox/messages/3/raw", h.auditor, nil).want(t, http.StatusOK)
		if !bytes.Equal(r.body, raws[2]) || r.header.Get("Content-Type") != "message/rfc822" {
			t.Fatalf("raw message 3 (%s): %q", r.header.Get("Content-Type"), r.body)
		}
		r = h.do("GET", "/api/v1/partners/acme/mailbox/messages/"+one.ID+"/raw", h.auditor, nil).want(t, http.StatusOK)
		if !bytes.Equal(r.body, raws[2]) {
			t.Fatalf("raw message by id: %q", r.body)
		}
		h.do("GET", "/api/v1/partners/acme/mailbox/messages/3", h.auditor, nil).want(t, http.StatusOK).decode(t, &one)
		if len(one.Flags) != 0 {
			t.Errorf("reading through the API set flags: %v", one.Flags)
		}
		for path, status := range map[string]int{
			"/api/v1/partners/acme/mailbox/messages/99":                      404,
			"/api/v1/partners/acme/mailbox/messages/2?folder=Archive/2025":   404,
			"/api/v1/partners/other/mailbox/messages/" + one.ID:              404,
			"/api/v1/partners/acme/mailbox/messages/nope/raw":                404,
			"/api/v1/partners/acme/mailbox/messages/0":                       400,
			"/api/v1/partners/acme/mailbox/messages/99999999999":             400,
			"/api/v1/partners/acme/mailbox/messages/" + one.ID + "?folder=x": 400,
		} {
			h.do("GET", path, h.auditor, nil).want(t, status).problem(t)
		}

		// Delete: admin only, by UID (in a folder) or by id.
		h.do("DELETE", "/api/v1/partners/acme/mailbox/messages/3", h.auditor, nil).want(t, http.StatusForbidden).problem(t)
		h.do("DELETE", "/api/v1/partners/acme/mailbox/messages/3", h.admin, nil).want(t, http.StatusNoContent)
		h.do("DELETE", "/api/v1/partners/acme/mailbox/messages/3", h.admin, nil).want(t, http.StatusNotFound).problem(t)
		h.do("GET", "/api/v1/partners/acme/mailbox/messages/"+one.ID, h.auditor, nil).want(t, http.StatusNotFound)
		h.do("DELETE", "/api/v1/partners/acme/mailbox/messages/"+msgs[0].ID, h.admin, nil).want(t, http.StatusNoContent)
		h.do("DELETE", "/api/v1/partners/acme/mailbox/messages/"+msgs[0].ID, h.admin, nil).want(t, http.StatusNotFound).problem(t)
		h.do("DELETE", "/api/v1/partners/acme/mailbox/messages/1?folder=Archive/2025", h.admin, nil).want(t, http.StatusNoContent)
		h.do("DELETE", "/api/v1/partners/acme/mailbox/messages/1?folder=Nowhere", h.admin, nil).want(t, http.StatusNotFound)
		h.do("GET", "/api/v1/partners/acme/mailbox", h.auditor, nil).want(t, http.StatusOK).decode(t, &mb)
		if mb.Messages != 3 {
			t.Errorf("after three deletions: %+v", mb)
		}
		// The UIDs stay; the next message gets a new one.
		if d, err := h.mail.Deliver(ctx, "acme", rawMail(7)); err != nil || d.Messages[0].UID != 6 {
			t.Fatalf("deliver after deletions: %v %+v", err, d)
		}

		var audit pageDoc[struct{ Action, Target string }]
		h.do("GET", "/api/v1/admin-audit?action=mailbox.message.delete", h.auditor, nil).want(t, http.StatusOK).decode(t, &audit)
		if len(audit.Items) != 7 || audit.Items[1].Target != acme.ID+"/Archive/2025/1" || audit.Items[3].Target != acme.ID+"/"+msgs[0].ID {
			t.Errorf("admin audit: %+v", audit.Items)
		}
	})
}
