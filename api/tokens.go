package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// Roles of API tokens.
const (
	RoleAdmin   = "admin"   // may read and change everything
	RoleAuditor = "auditor" // may only read
)

// tokenPrefix makes Ferry tokens recognisable (secret scanners, logs).
const tokenPrefix = "ferry_"

// CreateToken makes a new API token of role, stores its hash and returns
// the token, which is shown once and cannot be recovered. The CLI's
// `ferry token create` calls it.
func CreateToken(ctx context.Context, st *store.Store, name, role string) (string, *store.APIToken, error) {
	name = strings.TrimSpace(name)
	var v partners.ValidationError
	if role != RoleAdmin && role != RoleAuditor {
		v.Fields = append(v.Fields, partners.FieldError{Field: "role", Message: "must be admin or auditor"})
	}
	if len(name) > 100 || strings.ContainsAny(name, "\r\n\x00") {
		v.Fields = append(v.Fields, partners.FieldError{Field: "name", Message: "must be at most 100 characters on one line"})
	}
	if len(v.Fields) > 0 {
		return "", nil, &v
	}
	if name == "" {
		name = role
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", nil, fmt.Errorf("generate token: %w", err)
	}
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(secret[:])
	t := &store.APIToken{Name: name, Role: role, TokenHash: HashToken(token)}
	if err := st.CreateAPIToken(ctx, t); err != nil {
		return "", nil, fmt.Errorf("store token: %w", err)
	}
	return token, t, nil
}

// HashToken is what the database keeps of a token: its SHA-256, in hex.
// Tokens are 256 random bits, so a fast hash is enough.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
