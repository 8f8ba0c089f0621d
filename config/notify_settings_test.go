package config

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// The upload-alert settings: parsed, defaulted, refused with the key named,
// and the relay password never printed.
func TestNotifySettings(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTPRelay != "" || c.NotifyDigest != 0 || !slices.Equal(c.QuotaAlerts, []int{80, 95}) || c.OperatorEmails != nil {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = load(t, map[string]string{
		"FERRY_SMTP_RELAY":      "smtp://ferry:t0p-secret@mail.example:587?tls=starttls",
		"FERRY_MAIL_FROM":       "Ferry <ferry@example.com>",
		"FERRY_NOTIFY_DIGEST":   "10m",
		"FERRY_QUOTA_ALERTS":    "95, 80%,80",
		"FERRY_OPERATOR_EMAILS": "ops@example.com, Night Shift <night@example.com>",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.NotifyDigest != 10*time.Minute || !slices.Equal(c.QuotaAlerts, []int{80, 95}) || len(c.OperatorEmails) != 2 {
		t.Fatalf("parsed: %+v", c)
	}
	var b bytes.Buffer
	c.Describe(&b)
	if strings.Contains(b.String(), "t0p-secret") ||
		!strings.Contains(b.String(), "FERRY_SMTP_RELAY=smtp://ferry:***@mail.example:587?tls=starttls\n") {
		t.Errorf("ferry config shows:\n%s", b.String())
	}
	if c, err := load(t, map[string]string{"FERRY_QUOTA_ALERTS": ""}); err != nil || c.QuotaAlerts != nil {
		t.Errorf("empty FERRY_QUOTA_ALERTS: %v %v", c.QuotaAlerts, err)
	}
	for key, val := range map[string]string{
		"FERRY_SMTP_RELAY":      "http://mail.example",
		"FERRY_MAIL_FROM":       "not an address",
		"FERRY_NOTIFY_DIGEST":   "often",
		"FERRY_QUOTA_ALERTS":    "80,120",
		"FERRY_OPERATOR_EMAILS": "ops@example.com,nobody",
	} {
		_, err := load(t, map[string]string{key: val})
		var ce *Error
		if !errors.As(err, &ce) || ce.Key != key {
			t.Errorf("%s=%s: %v, want an error naming the key", key, val, err)
		}
	}
}
