package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/store/storetest"
)

// The operator's path end to end: a partner and an account made through the
// API, a partner's FTP client logging in and uploading, and the upload found
// in the API's transfer log.
func TestEndToEndUploadInTransfers(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			h := newHarness(t, b, harnessOpts{})
			var p partnerDoc
			h.do("POST", "/api/v1/partners", h.admin, map[string]any{"slug": "acme", "name": "ACME", "contacts": []string{"ops@acme.example"}}).
				want(t, http.StatusCreated).decode(t, &p)
			var a accountDoc
			h.do("POST", "/api/v1/partners/"+p.ID+"/accounts", h.admin, map[string]any{"username": "acme-upload", "permissions": []string{"list", "upload"}}).
				want(t, http.StatusCreated).decode(t, &a)

			c, err := h.dialFTP("acme-upload", a.Password)
			if err != nil {
				t.Fatalf("FTP login with the password the API generated: %v", err)
			}
			content := "order,qty\nA-1,3\n"
			if err := c.Stor("orders.csv", strings.NewReader(content)); err != nil {
				t.Fatal(err)
			}
			_ = c.Quit()
			// The row is marked done after the 226, in the background.
			storetest.WaitUploadsFinished(t, h.st)

			sum := sha256.Sum256([]byte(content))
			var found *transferDoc
			testenv.Eventually(t, 10*time.Second, func() error {
				var pg pageDoc[transferDoc]
				h.do("GET", "/api/v1/transfers?partner=acme&operation=upload", h.auditor, nil).want(t, http.StatusOK).decode(t, &pg)
				for i, tr := range pg.Items {
					if tr.Path == "/orders.csv" {
						found = &pg.Items[i]
						return nil
					}
				}
				return fmt.Errorf("the upload is not in /api/v1/transfers: %+v", pg)
			})
			if found.Status != "ok" || found.Username != "acme-upload" || found.AccountID == nil || *found.AccountID != a.ID ||
				found.PartnerID == nil || *found.PartnerID != p.ID || found.Bytes != int64(len(content)) ||
				found.SHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("upload row: %+v", *found)
			}
			// The same row through the account filter, and the usage it added.
			var byAccount pageDoc[transferDoc]
			h.do("GET", "/api/v1/transfers?account=acme-upload&operation=upload&path_prefix=/orders", h.auditor, nil).
				want(t, http.StatusOK).decode(t, &byAccount)
			if len(byAccount.Items) != 1 || byAccount.Items[0].ID != found.ID {
				t.Fatalf("by account: %+v", byAccount)
			}
			h.do("GET", "/api/v1/partners/acme", h.auditor, nil).want(t, http.StatusOK).decode(t, &p)
			if p.Quota.UsedBytes != int64(len(content)) || p.Quota.UsedFiles != 1 {
				t.Errorf("usage after the upload: %+v", p.Quota)
			}
		})
	}
}
