package mailsec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferryhq/ferry/store"
)

// Registry is the register of contacts' public keys, over the store: the
// one place the API, the CLI and the web admin add, list and delete keys,
// and the notifier and mailboxes look them up.
type Registry struct {
	Store *store.Store
	// Own is Ferry's identity: mail from its sender address (the alert
	// copies in partner mailboxes) verifies against its keys. nil: none.
	Own *Identity
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (r *Registry) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Add checks a key (ParsePublicKey: *KeyError when refused) and stores
// it; the same key twice for one address is store.ErrConflict. Alerts
// blocked for want of a key are checked again at once.
func (r *Registry) Add(ctx context.Context, kind, email, text string) (*store.RecipientKey, error) {
	k, err := ParsePublicKey(kind, email, text, r.now())
	if err != nil {
		return nil, err
	}
	row := &store.RecipientKey{Email: k.Email, Kind: k.Kind, Fingerprint: k.Fingerprint, PublicKey: k.Text, ExpiresAt: k.ExpiresAt}
	if err := r.Store.AddRecipientKey(ctx, row); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("%w: key %s is already registered for %s", store.ErrConflict, k.Fingerprint, k.Email)
		}
		return nil, err
	}
	if err := r.Store.UnblockNotifications(ctx); err != nil {
		return row, fmt.Errorf("key stored; waking blocked alerts: %w", err)
	}
	return row, nil
}

// List returns the keys of the addresses (nil: every key).
func (r *Registry) List(ctx context.Context, emails []string) ([]store.RecipientKey, error) {
	return r.Store.RecipientKeys(ctx, emails)
}

// Delete removes a key (store.ErrNotFound when there is none).
func (r *Registry) Delete(ctx context.Context, id string) error {
	return r.Store.DeleteRecipientKey(ctx, id)
}

// Lookup is what the notifier asks of each recipient: the newest usable
// key of the address (nil when there is none), and whether a key is
// registered that is no longer usable (expired or revoked since it was
// added), for the operators' warning.
func (r *Registry) Lookup(ctx context.Context, email string) (key *PublicKey, stale []*PublicKey, err error) {
	rows, err := r.Store.RecipientKeys(ctx, []string{email})
	if err != nil {
		return nil, nil, err
	}
	now := r.now()
	for _, row := range rows {
		k, err := LoadPublicKey(row.Kind, row.Email, row.PublicKey)
		if err != nil {
			return nil, nil, fmt.Errorf("registered key %s of %s: %w", row.ID, row.Email, err)
		}
		if k.Usable(now) != nil {
			stale = append(stale, k)
			continue
		}
		if key == nil {
			key = k
		}
	}
	return key, stale, nil
}

// Keyring returns the usable and unusable keys of the addresses, for
// verifying signatures (a signature made before a key expired still
// verifies).
func (r *Registry) Keyring(ctx context.Context, emails []string) ([]*PublicKey, error) {
	rows, err := r.Store.RecipientKeys(ctx, emails)
	if err != nil {
		return nil, err
	}
	out := make([]*PublicKey, 0, len(rows))
	for _, row := range rows {
		k, err := LoadPublicKey(row.Kind, row.Email, row.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("registered key %s of %s: %w", row.ID, strings.ToLower(row.Email), err)
		}
		out = append(out, k)
	}
	return out, nil
}

// VerifyMail checks a signed incoming message against the keys registered
// for its sender (from, the From address).
func (r *Registry) VerifyMail(ctx context.Context, raw []byte, from string) (Verification, error) {
	if !bytes.Contains(bytes.ToLower(raw[:min(len(raw), 64<<10)]), []byte("multipart/signed")) {
		return Verification{}, nil // the common case: no signature, no key lookup
	}
	var keys []*PublicKey
	if from != "" {
		var err error
		if keys, err = r.Keyring(ctx, []string{from}); err != nil {
			return Verification{}, err
		}
		if r.Own != nil && strings.EqualFold(from, r.Own.Email) {
			keys = append(keys, r.Own.PublicKeys()...)
		}
	}
	return VerifyMessage(raw, keys, r.now()), nil
}

// OpenPGPKeys returns the newest usable OpenPGP key of each address, and
// the addresses that have none (partner files are encrypted to such keys).
func (r *Registry) OpenPGPKeys(ctx context.Context, emails []string) (keys []*PublicKey, missing []string, err error) {
	rows, err := r.Store.RecipientKeys(ctx, emails)
	if err != nil {
		return nil, nil, err
	}
	now := r.now()
	have := map[string]bool{}
	for _, row := range rows {
		if row.Kind != KindOpenPGP || have[row.Email] {
			continue
		}
		k, err := LoadPublicKey(row.Kind, row.Email, row.PublicKey)
		if err != nil {
			return nil, nil, fmt.Errorf("registered key %s of %s: %w", row.ID, row.Email, err)
		}
		if k.Usable(now) == nil {
			keys = append(keys, k)
			have[row.Email] = true
		}
	}
	for _, e := range emails {
		if !have[strings.ToLower(e)] {
			missing = append(missing, e)
		}
	}
	return keys, missing, nil
}
