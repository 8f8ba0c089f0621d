package partners

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/store"
)

// PartnerPatch names the fields of a partner to change; a nil field is left
// as it is.
type PartnerPatch struct {
	// Slug cannot change (it names the partner's folder and mailbox); when
	// given it must equal the current one.
	Slug       *string
	Name       *string
	Contacts   *[]string
	QuotaBytes *int64
	QuotaFiles *int64
	// MailQuotaBytes is the mailbox quota (0: unlimited); the usage is
	// read-only.
	MailQuotaBytes *int64
	TLSRequired    *bool
	AllowedCIDRs   *[]string
	Enabled        *bool
	EBCDICCodePage *string
	// TOTPRequired makes the partner's accounts use a second factor in
	// the portal.
	TOTPRequired   *bool
	EncryptAlerts  *string
	EncryptUploads *[]string
	VerifyUploads  *bool
}

// UpdatePartner applies patch to a partner found by ID or slug, with the
// same rules as CreatePartner. check, when not nil, sees the current partner
// inside the update's transaction and may refuse the update with its error
// (the admin API's If-Match); nothing is written then.
func (s *Service) UpdatePartner(ctx context.Context, idOrSlug string, patch PartnerPatch, check func(current *store.Partner) error) (*store.Partner, error) {
	cur, err := s.Partner(ctx, idOrSlug)
	if err != nil {
		return nil, err
	}
	var refused error // errors of the rules, returned as they are rather than wrapped by Tx
	err = s.Store.Tx(ctx, func(tx *store.Store) error {
		p, err := tx.PartnerByIDForUpdate(ctx, cur.ID)
		if err != nil {
			return fmt.Errorf("partner %q: %w", idOrSlug, err)
		}
		if check != nil {
			if refused = check(p); refused != nil {
				return refused
			}
		}
		if refused = patch.apply(p); refused != nil {
			return refused
		}
		return tx.UpdatePartner(ctx, p)
	})
	if refused != nil {
		return nil, refused
	}
	if err != nil {
		return nil, err
	}
	return s.Store.PartnerByID(ctx, cur.ID)
}

// apply changes p as the patch says and validates the result.
func (patch PartnerPatch) apply(p *store.Partner) error {
	in := PartnerInput{
		Slug: p.Slug, Name: p.Name, Contacts: p.ContactEmails(), QuotaBytes: p.QuotaBytes,
		QuotaFiles: p.QuotaFiles, MailQuotaBytes: p.MailQuotaBytes, TLSRequired: p.TLSRequired,
		AllowedCIDRs: splitList(p.AllowedCIDRs), Enabled: p.Enabled, EBCDICCodePage: p.EBCDICCodePage,
		EncryptAlerts: p.EncryptAlerts, EncryptUploads: splitList(p.EncryptUploads), VerifyUploads: p.VerifyUploads,
	}
	var v ValidationError
	if patch.Slug != nil && strings.TrimSpace(*patch.Slug) != p.Slug {
		v.add("slug", "cannot be changed: it names the partner's folder and mailbox")
	}
	if patch.Name != nil {
		in.Name = *patch.Name
		if strings.TrimSpace(in.Name) == "" {
			v.add("name", "must not be empty")
		}
	}
	if patch.Contacts != nil {
		in.Contacts = slices.Clone(*patch.Contacts)
	}
	if patch.QuotaBytes != nil {
		in.QuotaBytes = *patch.QuotaBytes
	}
	if patch.QuotaFiles != nil {
		in.QuotaFiles = *patch.QuotaFiles
	}
	if patch.MailQuotaBytes != nil {
		in.MailQuotaBytes = *patch.MailQuotaBytes
	}
	if patch.TLSRequired != nil {
		in.TLSRequired = *patch.TLSRequired
	}
	if patch.AllowedCIDRs != nil {
		in.AllowedCIDRs = slices.Clone(*patch.AllowedCIDRs)
	}
	if patch.Enabled != nil {
		in.Enabled = *patch.Enabled
	}
	if patch.EBCDICCodePage != nil {
		in.EBCDICCodePage = *patch.EBCDICCodePage
	}
	if patch.TOTPRequired != nil {
		p.TOTPRequired = *patch.TOTPRequired
	}
	if patch.EncryptAlerts != nil {
		in.EncryptAlerts = *patch.EncryptAlerts
	}
	if patch.EncryptUploads != nil {
		in.EncryptUploads = slices.Clone(*patch.EncryptUploads)
	}
	if patch.VerifyUploads != nil {
		in.VerifyUploads = *patch.VerifyUploads
	}
	var invalid *ValidationError
	if err := in.validate(); errors.As(err, &invalid) {
		v.Fields = append(v.Fields, invalid.Fields...)
	}
	if err := v.err(); err != nil {
		return err
	}
	created := map[string]store.Contact{}
	for _, c := range p.Contacts {
		created[strings.ToLower(c.Email)] = c
	}
	p.Contacts = p.Contacts[:0:0]
	for _, addr := range in.Contacts {
		c := created[strings.ToLower(addr)]
		c.Email = addr
		p.Contacts = append(p.Contacts, c)
	}
	p.Name, p.QuotaBytes, p.QuotaFiles, p.MailQuotaBytes = in.Name, in.QuotaBytes, in.QuotaFiles, in.MailQuotaBytes
	p.TLSRequired, p.AllowedCIDRs, p.Enabled = in.TLSRequired, strings.Join(in.AllowedCIDRs, ","), in.Enabled
	p.EBCDICCodePage, p.EncryptAlerts = in.EBCDICCodePage, in.EncryptAlerts
	p.EncryptUploads, p.VerifyUploads = strings.Join(in.EncryptUploads, ","), in.VerifyUploads
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// PermissionNames turns a list of permission names (PermNames, or
// "all") into the stored form. An empty list is refused: an account without
// any permission could do nothing but log in.
func PermissionNames(names []string) (string, error) {
	if len(names) == 0 {
		return "", errors.New("must name at least one permission (valid: all, " + strings.Join(PermNames(), ", ") + ")")
	}
	for _, n := range names {
		if strings.Contains(n, ",") || strings.TrimSpace(n) == "" {
			return "", fmt.Errorf("%q is not one permission name (valid: all, %s)", n, strings.Join(PermNames(), ", "))
		}
	}
	p, err := ParsePerm(strings.Join(names, ","))
	if err != nil {
		return "", err
	}
	return p.String(), nil
}

// Account finds an account of a partner by ID or username. An account of
// another partner is ErrNotFound.
func (s *Service) Account(ctx context.Context, partnerIDOrSlug, idOrUsername string) (*store.Account, error) {
	p, err := s.Partner(ctx, partnerIDOrSlug)
	if err != nil {
		return nil, err
	}
	a, err := s.Store.AccountByID(ctx, idOrUsername)
	if errors.Is(err, store.ErrNotFound) {
		a, err = s.Store.AccountByUsername(ctx, idOrUsername)
	}
	if err == nil && a.PartnerID != p.ID {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("account %q of partner %s: %w", idOrUsername, p.Slug, err)
	}
	return a, nil
}

// AccountPatch names the fields of an account to change; a nil field is
// left as it is.
type AccountPatch struct {
	Username *string
	// Password sets a new password; GeneratePassword sets a generated one,
	// which UpdateAccount returns (shown once). At most one of them.
	Password         *string
	GeneratePassword bool
	HomeDir          *string
	Permissions      *[]string // names, as PermissionNames reads them
	TLSRequired      *bool
	Enabled          *bool
}

// UpdateAccount applies patch to the account with that ID, with the same
// rules as CreateAccount, and returns the account and the generated
// password, if one was asked for. check works as in UpdatePartner.
// Sessions already logged in are not touched here: the caller that can
// reach them (the admin API) closes those of a disabled account.
func (s *Service) UpdateAccount(ctx context.Context, id string, patch AccountPatch, check func(current *store.Account) error) (*store.Account, string, error) {
	var v ValidationError
	generated, hash := "", ""
	switch {
	case patch.GeneratePassword && patch.Password != nil:
		v.add("password", "give a password or ask for a generated one, not both")
	case patch.GeneratePassword:
		pw, err := password.Generate(20)
		if err != nil {
			return nil, "", err
		}
		generated = pw
	case patch.Password != nil:
		validatePassword(&v, *patch.Password)
	}
	var username, home, perms string
	if patch.Username != nil {
		username = strings.TrimSpace(*patch.Username)
		if !usernameRE.MatchString(username) {
			v.add("username", "must be 1-64 letters, digits or . _ @ + - and start with a letter or digit")
		}
	}
	if patch.HomeDir != nil {
		var err error
		if home, err = CleanHomeDir(*patch.HomeDir); err != nil {
			v.add("home_dir", "%v", err)
		}
	}
	if patch.Permissions != nil {
		var err error
		if perms, err = PermissionNames(*patch.Permissions); err != nil {
			v.add("permissions", "%v", err)
		}
	}
	if err := v.err(); err != nil {
		return nil, "", err
	}
	// The new home folder first: a name that cannot be a folder of the
	// partner's tree is refused before anything is stored. (An account
	// never changes partner, so the slug read here stays right.)
	if patch.HomeDir != nil {
		cur, err := s.Store.AccountByID(ctx, id)
		if err != nil {
			return nil, "", fmt.Errorf("account %q: %w", id, err)
		}
		if cur.Partner != nil {
			if err := s.MakeHome(cur.Partner.Slug, home); err != nil {
				return nil, "", err
			}
		}
	}
	// Hash before the transaction: argon2id takes a while, and on SQLite a
	// write transaction holds the whole database.
	switch {
	case generated != "":
		h, err := s.HashPassword(ctx, generated)
		if err != nil {
			return nil, "", err
		}
		hash = h
	case patch.Password != nil:
		h, err := s.HashPassword(ctx, *patch.Password)
		if err != nil {
			return nil, "", err
		}
		hash = h
	}

	var refused error
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		a, err := tx.AccountByIDForUpdate(ctx, id)
		if err != nil {
			return fmt.Errorf("account %q: %w", id, err)
		}
		if check != nil {
			if refused = check(a); refused != nil {
				return refused
			}
		}
		if patch.Username != nil {
			a.Username = username
		}
		if hash != "" {
			a.PasswordHash = hash
		}
		if patch.HomeDir != nil {
			a.HomeDir = home
		}
		if patch.Permissions != nil {
			a.Permissions = perms
		}
		if patch.TLSRequired != nil {
			a.TLSRequired = *patch.TLSRequired
		}
		if patch.Enabled != nil {
			a.Enabled = *patch.Enabled
		}
		if err := tx.UpdateAccount(ctx, a); err != nil {
			if errors.Is(err, store.ErrConflict) {
				refused = fmt.Errorf("username %q: %w", a.Username, store.ErrConflict)
				return refused
			}
			return err
		}
		return nil
	})
	if refused != nil {
		return nil, "", refused
	}
	if err != nil {
		return nil, "", err
	}
	s.cache.forget(id)
	a, err := s.Store.AccountByID(ctx, id)
	if err != nil {
		return nil, "", err
	}
	return a, generated, nil
}
