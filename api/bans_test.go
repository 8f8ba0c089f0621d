package api_test

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

type banDoc struct {
	IP          string    `json:"ip"`
	Reason      string    `json:"reason"`
	Failures    int64     `json:"failures"`
	CreatedAt   time.Time `json:"created_at"`
	BannedUntil time.Time `json:"banned_until"`
}

// Bad FTP passwords ban the address; the operator sees the ban in the API
// and lifts it, and the address gets in again.
func TestBans(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		h := newHarnessOn(t, st, harnessOpts{banAfter: 3})
		ctx := context.Background()
		h.createPartner("acme")
		h.createAccount("acme", "alice")

		now := time.Now().UTC()
		for _, b := range []store.Ban{
			{IP: "203.0.113.7", Reason: "by hand", Failures: 9, CreatedAt: now.Add(-time.Minute), BannedUntil: now.Add(time.Hour)},
			{IP: "2001:db8::7", Reason: "by hand", Failures: 5, CreatedAt: now.Add(-2 * time.Minute), BannedUntil: now.Add(time.Hour)},
			{IP: "198.51.100.1", Reason: "expired", Failures: 5, CreatedAt: now.Add(-2 * time.Hour), BannedUntil: now.Add(-time.Hour)},
		} {
			if err := h.st.PutBan(ctx, &b); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			if _, err := h.dialFTP("alice", "wrong password"); err == nil {
				t.Fatal("a wrong password logged in")
			}
		}
		if _, err := h.dialFTP("alice", ftpPassword); err == nil {
			t.Fatal("a banned address logged in")
		}

		var list struct{ Items []banDoc }
		h.do("GET", "/api/v1/bans", h.auditor, nil).want(t, http.StatusOK).decode(t, &list)
		var ips []string
		for _, b := range list.Items {
			ips = append(ips, b.IP)
		}
		if !slices.Equal(ips, []string{"127.0.0.1", "203.0.113.7", "2001:db8::7"}) {
			t.Fatalf("bans (newest first, the expired one left out): %v", ips)
		}
		if b := list.Items[0]; b.Failures != 3 || !strings.Contains(b.Reason, "alice") || time.Until(b.BannedUntil) < 50*time.Minute {
			t.Errorf("the FTP ban: %+v", b)
		}
		m := h.do("GET", "/metrics", h.auditor, nil).want(t, http.StatusOK)
		if !bytes.Contains(m.body, []byte("ferry_bans_active 3\n")) {
			t.Error("metrics lack ferry_bans_active 3")
		}
		h.do("GET", "/api/v1/bans?ip=1.2.3.4", h.auditor, nil).want(t, http.StatusBadRequest).problem(t)

		// Errors: not an address, not banned (expired included), role.
		for _, ip := range []string{"not-an-ip", "300.1.1.1", "fe80::1%25eth0", "1.2.3.4%2F32"} {
			p := h.do("DELETE", "/api/v1/bans/"+ip, h.admin, nil).want(t, http.StatusBadRequest).problem(t)
			if !p.hasField("ip") {
				t.Errorf("%s: 400 does not name ip: %+v", ip, p)
			}
		}
		h.do("DELETE", "/api/v1/bans/192.0.2.1", h.admin, nil).want(t, http.StatusNotFound).problem(t)
		h.do("DELETE", "/api/v1/bans/198.51.100.1", h.admin, nil).want(t, http.StatusNotFound).problem(t)
		h.do("DELETE", "/api/v1/bans/127.0.0.1", h.auditor, nil).want(t, http.StatusForbidden).problem(t)

		// Lift the FTP ban: alice gets in again.
		h.do("DELETE", "/api/v1/bans/127.0.0.1", h.admin, nil).want(t, http.StatusNoContent)
		if _, err := h.dialFTP("alice", ftpPassword); err != nil {
			t.Fatalf("login after the ban was lifted: %v", err)
		}
		h.do("DELETE", "/api/v1/bans/127.0.0.1", h.admin, nil).want(t, http.StatusNotFound)
		// IPv6, and IPv4 written as IPv4-mapped IPv6.
		h.do("DELETE", "/api/v1/bans/2001:db8:0::7", h.admin, nil).want(t, http.StatusNoContent)
		h.do("DELETE", "/api/v1/bans/::ffff:203.0.113.7", h.admin, nil).want(t, http.StatusNoContent)
		h.do("GET", "/api/v1/bans", h.auditor, nil).want(t, http.StatusOK).decode(t, &list)
		if len(list.Items) != 0 {
			t.Fatalf("bans after lifting all: %+v", list.Items)
		}

		var audit pageDoc[struct{ Action, Target string }]
		h.do("GET", "/api/v1/admin-audit?action=ban.lift", h.auditor, nil).want(t, http.StatusOK).decode(t, &audit)
		var targets []string
		for _, a := range audit.Items {
			targets = append(targets, a.Target)
		}
		if len(targets) < 4 || targets[0] != "203.0.113.7" || targets[1] != "2001:db8::7" || targets[2] != "127.0.0.1" {
			t.Errorf("admin audit targets: %v", targets)
		}
	})
}
