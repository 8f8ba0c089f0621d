package mailsec

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// EncryptFile writes src to dst as a binary OpenPGP message (what
// `gpg --encrypt` writes, read by `gpg --decrypt`) encrypted to every key;
// the keys must be OpenPGP keys. name is the file name it carries.
func EncryptFile(dst io.Writer, src io.Reader, name string, keys []*PublicKey) error {
	if len(keys) == 0 {
		return errors.New("mailsec: no key to encrypt to")
	}
	to := make([]*openpgp.Entity, 0, len(keys))
	for _, k := range keys {
		if k.pgp == nil {
			return fmt.Errorf("mailsec: %s is not an OpenPGP key", k)
		}
		to = append(to, k.pgp)
	}
	cfg := &packet.Config{DefaultHash: crypto.SHA256, DefaultCipher: packet.CipherAES256}
	w, err := openpgp.Encrypt(dst, to, nil, &openpgp.FileHints{IsBinary: true, FileName: name}, cfg)
	if err != nil {
		return fmt.Errorf("mailsec: encrypt: %w", err)
	}
	if _, err := io.Copy(w, src); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// VerifyDetached checks a detached OpenPGP signature (binary, or armored
// as `gpg --armor --detach-sign` writes a .asc) of data against keys.
func VerifyDetached(data io.Reader, sig []byte, keys []*PublicKey, now time.Time) Verification {
	v := Verification{Kind: KindOpenPGP}
	var ring openpgp.EntityList
	byFpr := map[string]*PublicKey{}
	for _, k := range keys {
		if k.pgp != nil {
			ring = append(ring, k.pgp)
			byFpr[k.Fingerprint] = k
		}
	}
	if blk, err := armor.Decode(bytes.NewReader(sig)); err == nil {
		raw, err := io.ReadAll(blk.Body)
		if err != nil {
			return Verification{Status: SigInvalid, Kind: KindOpenPGP, Detail: "unreadable signature"}
		}
		sig = raw
	}
	if p, err := packet.Read(bytes.NewReader(sig)); err == nil {
		if s, ok := p.(*packet.Signature); ok && s.IssuerKeyId != nil {
			v.Signer = fmt.Sprintf("key ID %016X", *s.IssuerKeyId)
		}
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	_, signer, err := openpgp.VerifyDetachedSignature(ring, data, bytes.NewReader(sig), cfg)
	switch {
	case err == nil:
		k := byFpr[pgpFingerprint(signer)]
		v.Status, v.Signer = SigValid, k.Fingerprint+" "+k.Email
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		v.Status, v.Detail = SigUnknownKey, "made by no key registered for the partner"
	default:
		v.Status, v.Detail = SigInvalid, err.Error()
	}
	return v
}
