package config

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func secretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// FERRY_DATABASE_URL_FILE, FERRY_ADMIN_TOKEN_FILE and FERRY_SMTP_RELAY_FILE
// read the value from a file (a Docker secret), one trailing line break
// dropped, and FERRY_DATABASE_PASSWORD_FILE puts a password into a URL
// without one.
func TestSecretFiles(t *testing.T) {
	token := "0123456789abcdef0123456789abcdef"
	c, err := load(t, map[string]string{
		"FERRY_DATABASE_URL_FILE": secretFile(t, "postgres://ferry:pw@db:5432/ferry?sslmode=disable\n"),
		"FERRY_ADMIN_TOKEN_FILE":  secretFile(t, token+"\r\n"),
		"FERRY_SMTP_RELAY_FILE":   secretFile(t, "smtp://u:p@mail.example:587?tls=starttls"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://ferry:pw@db:5432/ferry?sslmode=disable" || c.AdminToken != token ||
		c.SMTPRelay != "smtp://u:p@mail.example:587?tls=starttls" {
		t.Fatalf("got %q %q %q", c.DatabaseURL, c.AdminToken, c.SMTPRelay)
	}

	// A password with characters a URL must escape arrives intact.
	pw := "p@ss:w/rd%?#"
	c, err = load(t, map[string]string{
		"FERRY_DATABASE_URL":           "postgres://ferry@postgres:5432/ferry?sslmode=disable",
		"FERRY_DATABASE_PASSWORD_FILE": secretFile(t, pw+"\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.DatabaseURL, "postgres://ferry:") || !strings.HasSuffix(c.DatabaseURL, "@postgres:5432/ferry?sslmode=disable") {
		t.Fatalf("URL %q", c.DatabaseURL)
	}
	if got, _ := urlPassword(c.DatabaseURL); got != pw {
		t.Fatalf("password %q, want %q", got, pw)
	}
	// The password stays out of `ferry config`.
	var b strings.Builder
	c.Describe(&b)
	if strings.Contains(b.String(), "p@ss") {
		t.Errorf("ferry config shows the database password:\n%s", b.String())
	}
}

// Every wrong combination is refused with the key named, and a missing file
// says so; nothing falls back silently.
func TestSecretFileErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	for _, tc := range []struct {
		env  map[string]string
		key  string
		want string
	}{
		{map[string]string{"FERRY_ADMIN_TOKEN": "0123456789abcdef0", "FERRY_ADMIN_TOKEN_FILE": secretFile(t, "0123456789abcdef1")},
			"FERRY_ADMIN_TOKEN_FILE", "not both"},
		{map[string]string{"FERRY_ADMIN_TOKEN_FILE": missing}, "FERRY_ADMIN_TOKEN_FILE", "no such file"},
		{map[string]string{"FERRY_ADMIN_TOKEN_FILE": secretFile(t, "short\n")}, "FERRY_ADMIN_TOKEN", "16 characters"},
		{map[string]string{"FERRY_ADMIN_TOKEN_FILE": secretFile(t, "0123456789abcdef\n0123456789abcdef\n")}, "FERRY_ADMIN_TOKEN_FILE", "more than one line"},
		{map[string]string{"FERRY_DATABASE_PASSWORD_FILE": secretFile(t, "pw")}, DatabasePasswordFileEnv, "with a user and no password"},
		{map[string]string{"FERRY_DATABASE_URL": "postgres://ferry:old@db/ferry", "FERRY_DATABASE_PASSWORD_FILE": secretFile(t, "pw")},
			DatabasePasswordFileEnv, "has a password already"},
		{map[string]string{"FERRY_DATABASE_URL": "postgres://ferry@db/ferry", "FERRY_DATABASE_PASSWORD_FILE": secretFile(t, "\n")},
			DatabasePasswordFileEnv, "empty"},
		{map[string]string{"FERRY_DATABASE_URL": "postgres://ferry@db/ferry", "FERRY_DATABASE_PASSWORD_FILE": missing},
			DatabasePasswordFileEnv, "no such file"},
	} {
		_, err := load(t, tc.env)
		var ce *Error
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error on %s saying %q", tc.env, err, tc.key, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), ":old@") {
			t.Errorf("error shows a password: %v", err)
		}
	}
}

func urlPassword(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return "", false
	}
	return u.User.Password()
}
