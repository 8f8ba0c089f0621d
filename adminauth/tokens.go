package adminauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// EnvTokenID names the token configured by FERRY_ADMIN_TOKEN (in the admin
// audit log, and in web sessions).
const EnvTokenID = "env"

// EnvTokenName is the name the FERRY_ADMIN_TOKEN token goes by.
const EnvTokenName = "FERRY_ADMIN_TOKEN"

// tokenPrefix makes Ferry tokens recognisable (secret scanners, logs).
const tokenPrefix = "ferry_"

// ErrUnknownToken is returned for a token that is unknown or revoked.
var ErrUnknownToken = errors.New("unknown or revoked token")

// CreateToken makes a new API token of role, stores its hash and returns
// the token, which is shown once and cannot be recovered.
func CreateToken(ctx context.Context, st *store.Store, name, role string) (string, *store.APIToken, error) {
	name = strings.TrimSpace(name)
	var v partners.ValidationError
	if !ValidRole(role) {
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

// Tokens finds the live API tokens: those in the database, and the one
// FERRY_ADMIN_TOKEN configures (role admin, ID EnvTokenID).
type Tokens struct {
	Store *store.Store
	// EnvToken is FERRY_ADMIN_TOKEN; empty: none.
	EnvToken string
}

// env returns the FERRY_ADMIN_TOKEN token, or nil.
func (t *Tokens) env() *store.APIToken {
	env := strings.TrimSpace(t.EnvToken)
	if env == "" {
		return nil
	}
	return &store.APIToken{ID: EnvTokenID, Name: EnvTokenName, Role: RoleAdmin, TokenHash: HashToken(env)}
}

// Lookup returns the live token whose secret is token, or ErrUnknownToken.
func (t *Tokens) Lookup(ctx context.Context, token string) (*store.APIToken, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, ErrUnknownToken
	}
	if env := t.env(); env != nil {
		got, want := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(strings.TrimSpace(t.EnvToken)))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			return env, nil
		}
	}
	tok, err := t.Store.APITokenByHash(ctx, HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownToken
	}
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	return tok, nil
}

// ByID returns the live token with that ID (EnvTokenID for
// FERRY_ADMIN_TOKEN), or ErrUnknownToken when it is revoked or unknown.
func (t *Tokens) ByID(ctx context.Context, id string) (*store.APIToken, error) {
	if id == EnvTokenID {
		if env := t.env(); env != nil {
			return env, nil
		}
		return nil, ErrUnknownToken
	}
	tok, err := t.Store.APITokenByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownToken
	}
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	return tok, nil
}
