package api_test

import (
	"net/http"
	"testing"

	"github.com/ferryhq/ferry/store/storetest"
)

// A partner's EBCDIC code page (FTP TYPE E): IBM-1047 by default, IBM-037
// settable on create and update, anything else refused with 422.
func TestPartnerEBCDICCodePage(t *testing.T) {
	h := newHarness(t, storetest.Backends()[0], harnessOpts{})
	var p struct {
		CodePage string `json:"ebcdic_code_page"`
	}
	h.do("POST", "/api/v1/partners", h.admin, map[string]any{"slug": "mainframe"}).
		want(t, http.StatusCreated).decode(t, &p)
	if p.CodePage != "IBM-1047" {
		t.Errorf("default code page %q", p.CodePage)
	}
	h.do("PATCH", "/api/v1/partners/mainframe", h.admin, map[string]any{"ebcdic_code_page": "ibm-037"}).
		want(t, http.StatusOK).decode(t, &p)
	if p.CodePage != "IBM-037" {
		t.Errorf("code page after PATCH %q", p.CodePage)
	}
	h.do("PATCH", "/api/v1/partners/mainframe", h.admin, map[string]any{"ebcdic_code_page": "IBM-500"}).
		want(t, http.StatusUnprocessableEntity).problem(t)
	h.do("POST", "/api/v1/partners", h.admin, map[string]any{"slug": "z2", "ebcdic_code_page": "037"}).
		want(t, http.StatusCreated).decode(t, &p)
	if p.CodePage != "IBM-037" {
		t.Errorf("created with 037: %q", p.CodePage)
	}
}
