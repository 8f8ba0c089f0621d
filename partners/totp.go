package partners

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/ferryhq/ferry/store"
)

// The portal's second factor: TOTP (RFC 6238, 30-second steps, 6 digits,
// SHA-1, one step of clock skew either way), what every authenticator app
// reads from a QR code.

var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewTOTP makes a new secret for an account, named for authenticator apps
// by issuer and the account's username.
func NewTOTP(issuer, username string) (*otp.Key, error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: username, Period: 30,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, fmt.Errorf("make a TOTP secret: %w", err)
	}
	return k, nil
}

// ValidTOTP reports whether code is the secret's code at now.
func ValidTOTP(secret, code string, now time.Time) bool {
	if secret == "" || len(code) != 6 {
		return false
	}
	ok, err := totp.ValidateCustom(code, secret, now, totpOpts)
	return err == nil && ok
}

// ErrWrongCode refuses a TOTP code that does not match.
var ErrWrongCode = errors.New("wrong code")

// SetTOTP turns an account's second factor on with secret, once code
// proves the authenticator app has it, or off with secret "" (code is
// then not asked).
func (s *Service) SetTOTP(ctx context.Context, accountID, secret, code string, now time.Time) error {
	if secret != "" && !ValidTOTP(secret, code, now) {
		return ErrWrongCode
	}
	if err := s.Store.SetAccountTOTP(ctx, accountID, secret); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("account %s: %w", accountID, err)
		}
		return err
	}
	return nil
}
