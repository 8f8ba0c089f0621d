package partners

import (
	"context"
	"crypto/subtle"
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

// TOTPStep returns the 30-second step whose code code is (now, or one
// step either side); ok is false for a wrong code.
func TOTPStep(secret, code string, now time.Time) (step int64, ok bool) {
	if secret == "" || len(code) != 6 {
		return 0, false
	}
	for _, skew := range []int64{0, -1, 1} {
		t := now.Add(time.Duration(skew) * 30 * time.Second)
		want, err := totp.GenerateCodeCustom(secret, t, totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return t.Unix() / 30, true
		}
	}
	return 0, false
}

// ErrWrongCode refuses a TOTP code that does not match, or was used
// already.
var ErrWrongCode = errors.New("wrong code")

// CheckTOTP checks a code of the account's second factor and uses it up:
// the same code (or an older one) is refused afterwards.
func (s *Service) CheckTOTP(ctx context.Context, a *store.Account, code string, now time.Time) error {
	step, ok := TOTPStep(a.TOTPSecret, code, now)
	if !ok {
		return ErrWrongCode
	}
	fresh, err := s.Store.UseTOTPStep(ctx, a.ID, step)
	if err != nil {
		return err
	}
	if !fresh {
		return ErrWrongCode
	}
	return nil
}

// SetTOTP turns an account's second factor on with secret, once code
// proves the authenticator app has it (the code is used up), or off with
// secret "" (code is then not asked).
func (s *Service) SetTOTP(ctx context.Context, accountID, secret, code string, now time.Time) error {
	var step int64
	if secret != "" {
		var ok bool
		if step, ok = TOTPStep(secret, code, now); !ok {
			return ErrWrongCode
		}
	}
	if err := s.Store.SetAccountTOTP(ctx, accountID, secret, step); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("account %s: %w", accountID, err)
		}
		return err
	}
	return nil
}

// ResetTOTP removes an account's second factor (a lost phone): the
// account signs in with its password alone, or, when its partner demands
// a second factor, sets up a new one at its next portal sign-in.
func (s *Service) ResetTOTP(ctx context.Context, username string) error {
	a, err := s.Store.AccountByUsername(ctx, username)
	if err != nil {
		return fmt.Errorf("account %q: %w", username, err)
	}
	return s.Store.SetAccountTOTP(ctx, a.ID, "", 0)
}
