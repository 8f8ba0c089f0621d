package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/vfs"
)

// UploadKeys finds the keys that protect a partner's files
// (mailsec.Registry).
type UploadKeys interface {
	// OpenPGPKeys: the usable OpenPGP key of each address, and the
	// addresses without one.
	OpenPGPKeys(ctx context.Context, emails []string) ([]*mailsec.PublicKey, []string, error)
	// Keyring: every key registered for the addresses.
	Keyring(ctx context.Context, emails []string) ([]*mailsec.PublicKey, error)
}

var _ UploadKeys = (*mailsec.Registry)(nil)

// ErrNoUploadKey refuses an upload the partner wants encrypted while a
// recipient has no usable key: nothing is stored in clear.
var ErrNoUploadKey = errors.New("files: no usable OpenPGP key to encrypt the upload to")

// maxSignature bounds a detached signature read for a check.
const maxSignature = 1 << 20

// signatureExts are the detached signatures verify_uploads checks, as gpg
// --detach-sign (.sig) and gpg --armor --detach-sign (.asc) name them.
var signatureExts = []string{".sig", ".asc"}

func isSignature(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return ext == ".sig" || ext == ".asc"
}

// protect applies the partner's verify_uploads and encrypt_uploads to a
// complete upload before it is recorded and published: the signature check
// goes into row, and an encrypted upload is published as name.pgp with
// row's path, size and usage those of the ciphertext (its SHA-256 stays
// the plaintext's). Signatures themselves are not encrypted, so that they
// can still be checked against the file.
func (c committer) protect(ctx context.Context, u *vfs.Upload, row *store.Transfer) error {
	t := c.t
	svc := t.svc
	if svc.Keys == nil || svc.Store == nil || t.who.PartnerID == "" || t.plain.seen() {
		return nil
	}
	p, err := svc.Store.PartnerByID(ctx, t.who.PartnerID)
	if err != nil {
		return fmt.Errorf("read the partner's file settings: %w", err)
	}
	if !p.VerifyUploads && p.EncryptUploads == "" {
		t.plain.see()
		return nil
	}
	// The plaintext's hash, before the data is checked or rewritten.
	if err := hashLate(u, row); err != nil {
		return err
	}
	if p.VerifyUploads {
		if err := c.verify(ctx, p, u, row); err != nil {
			return err
		}
	}
	if p.EncryptUploads == "" || isSignature(u.Name) {
		return nil
	}
	return c.encrypt(ctx, p, u, row)
}

// verify checks a detached signature and the file it signs, whichever of
// the two is uploaded second, against the keys of the partner's contacts.
func (c committer) verify(ctx context.Context, p *store.Partner, u *vfs.Upload, row *store.Transfer) error {
	root := c.t.root
	var data io.ReadCloser
	var sig []byte
	var err error
	if isSignature(u.Name) {
		target := strings.TrimSuffix(u.Name, path.Ext(u.Name))
		if data, err = root.Open(target); err != nil {
			return nil // the file comes later: its upload is checked then
		}
		sig, err = readLimited(root, u.Staged)
	} else {
		for _, ext := range signatureExts {
			if sig, err = readLimited(root, u.Name+ext); err == nil {
				break
			}
		}
		if sig == nil {
			return nil // no signature (yet): checked when it arrives
		}
		data, err = root.Open(u.Staged)
	}
	if err != nil {
		return fmt.Errorf("verify upload signature: %w", err)
	}
	defer data.Close()
	keys, err := c.t.svc.Keys.Keyring(ctx, p.ContactEmails())
	if err != nil {
		return fmt.Errorf("verify upload signature: %w", err)
	}
	v := mailsec.VerifyDetached(data, sig, keys, time.Now())
	row.Signature, row.Signer = v.Status, v.Signer
	if v.Status != mailsec.SigValid {
		c.t.svc.logger().Warn("upload signature not valid", "partner", p.Slug, "path", u.Name, "signature", v.Status,
			"signer", v.Signer, "detail", v.Detail)
	}
	return nil
}

func readLimited(root *vfs.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		return nil, fmt.Errorf("%s is no file", name)
	}
	return io.ReadAll(io.LimitReader(f, maxSignature))
}

// encrypt replaces the staged plaintext by its OpenPGP encryption to the
// keys of the partner's encrypt_uploads addresses; without a usable key
// for each of them the upload is refused and the plaintext removed.
func (c committer) encrypt(ctx context.Context, p *store.Partner, u *vfs.Upload, row *store.Transfer) error {
	t := c.t
	root := t.root
	var emails []string
	for _, e := range strings.Split(p.EncryptUploads, ",") {
		if e = strings.TrimSpace(e); e != "" {
			emails = append(emails, e)
		}
	}
	keys, missing, err := t.svc.Keys.OpenPGPKeys(ctx, emails)
	if err != nil {
		return fmt.Errorf("encrypt upload: %w", err)
	}
	if len(missing) > 0 {
		_ = root.Remove(u.Staged)
		return fmt.Errorf("%w: partner %s encrypts uploads to %s", ErrNoUploadKey, p.Slug, strings.Join(missing, ", "))
	}
	src, err := root.Open(u.Staged)
	if err != nil {
		return fmt.Errorf("encrypt upload: %w", err)
	}
	defer src.Close()
	tmp := u.Staged + ".pgp"
	dst, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("encrypt upload: %w", err)
	}
	fail := func(err error) error {
		dst.Close()
		_ = root.Remove(tmp)
		return fmt.Errorf("encrypt upload: %w", err)
	}
	if err := mailsec.EncryptFile(dst, src, path.Base(u.Name), keys); err != nil {
		return fail(err)
	}
	if !t.svc.NoSync {
		if err := dst.Sync(); err != nil {
			return fail(err)
		}
	}
	fi, err := dst.Stat()
	if err != nil {
		return fail(err)
	}
	if err := dst.Close(); err != nil {
		_ = root.Remove(tmp)
		return fmt.Errorf("encrypt upload: %w", err)
	}
	// The ciphertext takes the plaintext's place: from here on only
	// ciphertext is on disk.
	if err := root.Rename(tmp, u.Staged); err != nil {
		_ = root.Remove(tmp)
		return fmt.Errorf("encrypt upload: %w", err)
	}
	u.Name += ".pgp"
	u.Size = fi.Size()
	u.Replaces, u.PrevSize = false, 0
	if prev, err := root.Stat(u.Name); err == nil && !prev.IsDir() {
		u.Replaces, u.PrevSize = true, prev.Size()
	}
	fprs := make([]string, len(keys))
	for i, k := range keys {
		fprs[i] = k.Fingerprint
	}
	row.Path, row.FileSize, row.EncryptedTo = u.Name, u.Size, strings.Join(fprs, ",")
	row.UsageBytes, row.UsageFiles = u.Size-u.PrevSize, 0
	if !u.Replaces {
		row.UsageFiles = 1
	}
	return nil
}
