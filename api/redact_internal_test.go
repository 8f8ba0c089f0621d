package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// Passwords never reach the admin audit log, whatever their key's case
// (encoding/json sets a field from "Password" or "PASSWORD" too).
func TestRedactPasswords(t *testing.T) {
	var body map[string]any
	raw := `{"username":"alice","Password":"s3cret-1","PASSWORD":"s3cret-2","nested":{"new_password":"s3cret-3"},"list":[{"password":"s3cret-4"}]}`
	if err := json.Unmarshal([]byte(raw), &body); err != nil {
		t.Fatal(err)
	}
	redact(body)
	out, _ := json.Marshal(body)
	if strings.Contains(string(out), "s3cret") {
		t.Fatalf("a password survived: %s", out)
	}
	if !strings.Contains(string(out), "alice") {
		t.Fatalf("non-secret field lost: %s", out)
	}
}
