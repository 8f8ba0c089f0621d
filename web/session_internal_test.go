package web

import "testing"

// safeNext keeps a sign-in redirect on this site.
func TestSafeNextStaysOnSite(t *testing.T) {
	for next, want := range map[string]string{
		"/partners":             "/partners",
		"/partners/acme?tab=x":  "/partners/acme?tab=x",
		"":                      "/",
		"https://evil.example/": "/",
		"//evil.example":        "/",
		"/\\evil.example":       "/",
		"/\t/evil.example":      "/",
		"/\n/evil.example":      "/",
		"/%09/evil.example":     "/%09/evil.example", // percent-encoded stays a path on this site
		"/\x7f":                 "/",
		"javascript:alert(1)":   "/",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}
