// Package adminauth is who may administer Ferry: the roles, the admin API
// tokens (and the one FERRY_ADMIN_TOKEN configures), the web admin's users
// and their username and password rules. The API, the web admin and the
// CLI all ask it; none of them keeps a copy of these rules.
package adminauth

import (
	"errors"
	"fmt"
	"unicode"
)

// Roles of API tokens and admin users.
const (
	RoleAdmin   = "admin"   // may read and change everything
	RoleAuditor = "auditor" // may only read
)

// ValidRole reports whether role is one of the roles.
func ValidRole(role string) bool { return role == RoleAdmin || role == RoleAuditor }

// Limits of admin users' credentials.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
	MaxUsernameLen = 64
)

// ErrPassword is returned for a new password outside the limits.
var ErrPassword = errors.New("a password has 8 to 1024 characters")

// CheckPassword applies the rules of a new admin user's password.
func CheckPassword(pw string) error {
	if len(pw) < MinPasswordLen || len(pw) > MaxPasswordLen {
		return ErrPassword
	}
	return nil
}

// CheckUsername keeps admin usernames printable and short.
func CheckUsername(u string) error {
	if u == "" || len(u) > MaxUsernameLen {
		return fmt.Errorf("a username has 1 to 64 characters, got %q", u)
	}
	for _, r := range u {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("username %q: no spaces or control characters", u)
		}
	}
	return nil
}
