// Package partners holds the rules for partners and their accounts: what a
// valid slug, username or contact is, how passwords are set and checked, who
// may log in. The CLI, the admin API and every protocol front end go through
// it, so no rule is written twice.
package partners

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/mail"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/singleflight"

	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/vfs"
)

// Service applies the rules on top of the store.
type Service struct {
	Store    *store.Store
	FilesDir string          // root of every partner's tree
	Hash     password.Params // zero value: password.Default
	// MaxConcurrentVerify bounds the password checks running at once (each
	// holds Hash.Memory); 0 means max(2, GOMAXPROCS).
	MaxConcurrentVerify int
	// ChecksDone, if set, is called when the last password check or hash
	// running or waiting ends: each held Hash.Memory (19 MiB by default)
	// for its run, now garbage. `ferry serve` collects it there (see
	// cmd/ferry/gc.go).
	ChecksDone func()

	checks    atomic.Int64 // password checks and hashes running or waiting
	cache     credentialCache
	flight    singleflight.Group
	semOnce   sync.Once
	sem       chan struct{}
	dummyOnce sync.Once
	dummy     string
}

// FieldError is one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every invalid field of one request.
type ValidationError struct{ Fields []FieldError }

func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		parts = append(parts, f.Field+": "+f.Message)
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (e *ValidationError) err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

var (
	slugRE     = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
	usernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)
)

// ValidSlug reports whether s has the form of a partner's slug.
func ValidSlug(s string) bool { return slugRE.MatchString(s) }

// ValidUsername reports whether s has the form of an account username.
func ValidUsername(s string) bool { return usernameRE.MatchString(s) }

// PartnerInput is what an operator gives to create or change a partner.
type PartnerInput struct {
	Slug       string
	Name       string // defaults to the slug
	Contacts   []string
	QuotaBytes int64
	QuotaFiles int64
	// MailQuotaBytes bounds the partner's mailbox; 0 is unlimited.
	MailQuotaBytes int64
	TLSRequired    bool
	AllowedCIDRs   []string
	Enabled        bool
	// EBCDICCodePage is the code page of FTP's TYPE E for the partner's
	// sessions: IBM-1047 (the default, also when empty) or IBM-037.
	EBCDICCodePage string
	// TOTPRequired makes the partner's accounts use a second factor in
	// the portal (set up at their first sign-in there).
	TOTPRequired bool
	// EncryptAlerts is "optional" (the default, also when empty) or
	// "required": the partner's alerts wait until every recipient has a
	// registered key.
	EncryptAlerts string
	// EncryptUploads are the addresses whose OpenPGP keys uploads are
	// encrypted to (none: off); VerifyUploads checks detached signatures.
	EncryptUploads []string
	VerifyUploads  bool
}

// normalizeCodePage accepts "IBM-1047", "1047", "ibm-037", "037" or ""
// (the default) and returns the canonical name.
func normalizeCodePage(s string) (string, bool) {
	switch strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "IBM-") {
	case "", "1047":
		return "IBM-1047", true
	case "037", "37":
		return "IBM-037", true
	}
	return "", false
}

func (in *PartnerInput) validate() error {
	var v ValidationError
	in.Slug = strings.TrimSpace(in.Slug)
	in.Name = strings.TrimSpace(in.Name)
	if !slugRE.MatchString(in.Slug) {
		v.add("slug", "must be 1-63 lower-case letters, digits or inner hyphens (it names the partner's folder and mailbox)")
	}
	if in.Name == "" {
		in.Name = in.Slug
	}
	if cp, ok := normalizeCodePage(in.EBCDICCodePage); ok {
		in.EBCDICCodePage = cp
	} else {
		v.add("ebcdic_code_page", "must be IBM-1047 or IBM-037")
	}
	switch in.EncryptAlerts = strings.ToLower(strings.TrimSpace(in.EncryptAlerts)); in.EncryptAlerts {
	case "":
		in.EncryptAlerts = store.EncryptAlertsOptional
	case store.EncryptAlertsOptional, store.EncryptAlertsRequired:
	default:
		v.add("encrypt_alerts", "must be optional or required")
	}
	for i, e := range in.EncryptUploads {
		addr, err := ParseEmail(e)
		if err != nil {
			v.add(fmt.Sprintf("encrypt_uploads[%d]", i), "%v", err)
			continue
		}
		in.EncryptUploads[i] = addr
	}
	if len(in.Name) > 200 || strings.ContainsAny(in.Name, "\r\n\x00") {
		v.add("name", "must be at most 200 characters on one line")
	}
	seen := map[string]bool{}
	for i, c := range in.Contacts {
		addr, err := ParseEmail(c)
		if err != nil {
			v.add(fmt.Sprintf("contacts[%d]", i), "%v", err)
			continue
		}
		in.Contacts[i] = addr
		if seen[strings.ToLower(addr)] {
			v.add(fmt.Sprintf("contacts[%d]", i), "duplicate address %s", addr)
		}
		seen[strings.ToLower(addr)] = true
	}
	if in.QuotaBytes < 0 {
		v.add("quota_bytes", "must be 0 (unlimited) or more")
	}
	if in.QuotaFiles < 0 {
		v.add("quota_files", "must be 0 (unlimited) or more")
	}
	if in.MailQuotaBytes < 0 {
		v.add("mail_quota_bytes", "must be 0 (unlimited) or more")
	}
	for i, c := range in.AllowedCIDRs {
		n, err := ParseCIDR(c)
		if err != nil {
			v.add(fmt.Sprintf("allowed_cidrs[%d]", i), "%v", err)
			continue
		}
		in.AllowedCIDRs[i] = n
	}
	return v.err()
}

// ParseEmail accepts one bare address (no display name, no CR/LF).
func ParseEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || !strings.Contains(a.Address, "@") {
		return "", fmt.Errorf("%q is not a plain email address like ops@example.com", s)
	}
	return a.Address, nil
}

// CreatePartner validates in, stores the partner and creates its folder.
func (s *Service) CreatePartner(ctx context.Context, in PartnerInput) (*store.Partner, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	p := &store.Partner{
		Slug: in.Slug, Name: in.Name, Enabled: in.Enabled, TLSRequired: in.TLSRequired,
		AllowedCIDRs: strings.Join(in.AllowedCIDRs, ","), QuotaBytes: in.QuotaBytes, QuotaFiles: in.QuotaFiles,
		MailQuotaBytes: in.MailQuotaBytes, EBCDICCodePage: in.EBCDICCodePage, TOTPRequired: in.TOTPRequired, EncryptAlerts: in.EncryptAlerts,
		EncryptUploads: strings.Join(in.EncryptUploads, ","), VerifyUploads: in.VerifyUploads,
	}
	for _, c := range in.Contacts {
		p.Contacts = append(p.Contacts, store.Contact{Email: c})
	}
	if err := s.Store.CreatePartner(ctx, p); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("partner %q: %w", in.Slug, store.ErrConflict)
		}
		return nil, err
	}
	if err := os.MkdirAll(s.PartnerDir(p.Slug), 0o750); err != nil {
		return p, fmt.Errorf("create folder of partner %s: %w", p.Slug, err)
	}
	return p, nil
}

// PartnerDir is where a partner's files live.
func (s *Service) PartnerDir(slug string) string { return filepath.Join(s.FilesDir, slug) }

// Partner finds a partner by ID or slug.
func (s *Service) Partner(ctx context.Context, idOrSlug string) (*store.Partner, error) {
	p, err := s.Store.PartnerByID(ctx, idOrSlug)
	if errors.Is(err, store.ErrNotFound) {
		p, err = s.Store.PartnerBySlug(ctx, idOrSlug)
	}
	if err != nil {
		return nil, fmt.Errorf("partner %q: %w", idOrSlug, err)
	}
	return p, nil
}

// AccountInput is what an operator gives to create an account.
type AccountInput struct {
	Partner     string // ID or slug
	Username    string
	Password    string // empty: generate one and return it
	HomeDir     string // inside the partner's tree; "" or "/" for all of it
	Permissions string // as ParsePerm reads it; "" means all
	TLSRequired bool
	Disabled    bool
}

// MinPasswordLen is the shortest password an operator may set.
const MinPasswordLen = 8

func validatePassword(v *ValidationError, pw string) {
	if len(pw) < MinPasswordLen {
		v.add("password", "must be at least %d characters", MinPasswordLen)
	}
	if len(pw) > 1024 || strings.ContainsAny(pw, "\r\n\x00") {
		v.add("password", "must be at most 1024 characters without line breaks")
	}
}

// CleanHomeDir normalises a home folder and refuses names that no folder
// may have.
func CleanHomeDir(dir string) (string, error) {
	if strings.ContainsAny(dir, "\x00\r\n\\") {
		return "", errors.New("must not contain NUL, line breaks or backslashes")
	}
	clean := path.Clean("/" + dir)
	if first, _, _ := strings.Cut(strings.TrimPrefix(clean, "/"), "/"); first == vfs.StagingDir {
		return "", fmt.Errorf("%s is reserved for uploads in progress", vfs.StagingDir)
	}
	return clean, nil
}

// MakeHome creates an account's home folder inside the partner's tree,
// through os.Root so that no symlink placed in the tree can lead it out.
// A home that cannot be a folder there (a symlink on the way leads out of
// the tree, a file is in the way) is a *ValidationError on home_dir;
// CreateAccount and UpdateAccount call it before they store anything.
func (s *Service) MakeHome(slug, home string) error {
	root, err := vfs.OpenRoot(s.PartnerDir(slug))
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.MkdirAll(home, 0o750); err != nil {
		if msg := homeProblem(root, home); msg != "" {
			return &ValidationError{Fields: []FieldError{{Field: "home_dir", Message: msg}}}
		}
		return fmt.Errorf("create home folder %s of partner %s: %w", home, slug, err)
	}
	return nil
}

// homeProblem names, in the partner's terms, why home cannot be a folder
// of the tree under root, or returns "" when the name is not the cause.
func homeProblem(root *vfs.Root, home string) string {
	cur := ""
	for _, part := range strings.Split(strings.Trim(home, "/"), "/") {
		cur += "/" + part
		fi, err := root.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return ""
		case err != nil:
			// os.Root refuses a name whose earlier part leads out.
			return fmt.Sprintf("%s leads out of the partner's folder", cur)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := root.Stat(cur)
			if err != nil {
				return fmt.Sprintf("%s is a symbolic link that leads out of the partner's folder (or nowhere); a home folder must be a real folder of the partner's tree", cur)
			}
			if !target.IsDir() {
				return fmt.Sprintf("%s is a link to a file, not a folder", cur)
			}
		case !fi.IsDir():
			return fmt.Sprintf("%s is a file, not a folder", cur)
		}
	}
	return ""
}

// CreateAccount validates in and stores the account. When in.Password is
// empty it returns the generated password, which is shown once and never
// stored in clear.
func (s *Service) CreateAccount(ctx context.Context, in AccountInput) (*store.Account, string, error) {
	var v ValidationError
	in.Username = strings.TrimSpace(in.Username)
	if !usernameRE.MatchString(in.Username) {
		v.add("username", "must be 1-64 letters, digits or . _ @ + - and start with a letter or digit")
	}
	generated := ""
	if in.Password == "" {
		pw, err := password.Generate(20)
		if err != nil {
			return nil, "", err
		}
		in.Password, generated = pw, pw
	}
	validatePassword(&v, in.Password)
	home, err := CleanHomeDir(in.HomeDir)
	if err != nil {
		v.add("home_dir", "%v", err)
	}
	perms := PermAll
	if strings.TrimSpace(in.Permissions) != "" {
		if perms, err = ParsePerm(in.Permissions); err != nil {
			v.add("permissions", "%v", err)
		}
	}
	if err := v.err(); err != nil {
		return nil, "", err
	}
	p, err := s.Partner(ctx, in.Partner)
	if err != nil {
		return nil, "", err
	}
	// The home folder first: a name that cannot be a folder of the
	// partner's tree is refused before anything is stored.
	if err := s.MakeHome(p.Slug, home); err != nil {
		return nil, "", err
	}
	hash, err := s.HashPassword(ctx, in.Password)
	if err != nil {
		return nil, "", err
	}
	a := &store.Account{
		PartnerID: p.ID, Username: in.Username, PasswordHash: hash, HomeDir: home,
		Permissions: perms.String(), TLSRequired: in.TLSRequired, Enabled: !in.Disabled,
	}
	if err := s.Store.CreateAccount(ctx, a); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, "", fmt.Errorf("username %q: %w", in.Username, store.ErrConflict)
		}
		return nil, "", err
	}
	a.Partner = p
	return a, generated, nil
}

// SetPassword replaces an account's password; empty generates one, which is
// returned.
func (s *Service) SetPassword(ctx context.Context, username, pw string) (string, error) {
	a, err := s.Store.AccountByUsername(ctx, username)
	if err != nil {
		return "", fmt.Errorf("account %q: %w", username, err)
	}
	generated := ""
	if pw == "" {
		if pw, err = password.Generate(20); err != nil {
			return "", err
		}
		generated = pw
	}
	var v ValidationError
	validatePassword(&v, pw)
	if err := v.err(); err != nil {
		return "", err
	}
	if a.PasswordHash, err = s.HashPassword(ctx, pw); err != nil {
		return "", err
	}
	if err := s.Store.UpdateAccount(ctx, a); err != nil {
		return "", err
	}
	s.cache.forget(a.ID)
	return generated, nil
}

// SetAccountEnabled enables or disables an account.
func (s *Service) SetAccountEnabled(ctx context.Context, username string, enabled bool) (*store.Account, error) {
	a, err := s.Store.AccountByUsername(ctx, username)
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", username, err)
	}
	a.Enabled = enabled
	if err := s.Store.UpdateAccount(ctx, a); err != nil {
		return nil, err
	}
	s.cache.forget(a.ID)
	return a, nil
}

// SetPartnerEnabled enables or disables a partner (and so all its logins).
func (s *Service) SetPartnerEnabled(ctx context.Context, idOrSlug string, enabled bool) (*store.Partner, error) {
	p, err := s.Partner(ctx, idOrSlug)
	if err != nil {
		return nil, err
	}
	p.Enabled = enabled
	if err := s.Store.UpdatePartner(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// DeleteAccount removes an account by username.
func (s *Service) DeleteAccount(ctx context.Context, username string) error {
	a, err := s.Store.AccountByUsername(ctx, username)
	if err != nil {
		return fmt.Errorf("account %q: %w", username, err)
	}
	s.cache.forget(a.ID)
	return s.Store.DeleteAccount(ctx, a.ID)
}

// ErrHasFiles is returned when deleting a partner whose folder is not empty
// without purge.
var ErrHasFiles = errors.New("partner still has files; delete with purge to remove them")

// DeletePartner removes a partner with its accounts. Its files are removed
// with purge; without purge a partner with files is refused.
func (s *Service) DeletePartner(ctx context.Context, idOrSlug string, purge bool) error {
	p, err := s.Partner(ctx, idOrSlug)
	if err != nil {
		return err
	}
	dir := s.PartnerDir(p.Slug)
	if !purge {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read folder of partner %s: %w", p.Slug, err)
		}
		if hasFiles(dir, entries) {
			return fmt.Errorf("partner %s: %w", p.Slug, ErrHasFiles)
		}
	}
	if err := s.Store.DeletePartner(ctx, p.ID); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove folder of partner %s: %w", p.Slug, err)
	}
	return nil
}

// hasFiles reports whether a tree holds any regular file (empty home
// folders do not count).
func hasFiles(dir string, entries []os.DirEntry) bool {
	for _, e := range entries {
		if !e.IsDir() {
			return true
		}
		sub, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil || hasFiles(filepath.Join(dir, e.Name()), sub) {
			return true
		}
	}
	return false
}

func (s *Service) hashParams() password.Params {
	if s.Hash == (password.Params{}) {
		return password.Default
	}
	return s.Hash
}
