package mailsec

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/emersion/go-message/textproto"
	"github.com/smallstep/pkcs7"
)

// Signing modes of alert mail (FERRY_MAIL_SIGN).
const (
	SignOpenPGP = "openpgp" // PGP/MIME, RFC 3156
	SignSMIME   = "smime"   // S/MIME, RFC 8551
	SignNone    = "none"
)

// The CMS content encryption of S/MIME mail. smallstep/pkcs7 keeps it in a
// package variable whose default is DES-CBC; this package is its only user
// in Ferry and sets AES-256-CBC once, before any use (RFC 8551 §2.7: AES-CBC
// is what every S/MIME agent reads).
func init() { pkcs7.ContentEncryptionAlgorithm = pkcs7.EncryptionAlgorithmAES256CBC }

// Seal turns a complete RFC 5322 message (CRLF line endings, 7-bit body)
// into what is sent: signed per mode with Ferry's keys and, when to is not
// nil, encrypted to that key. A recipient with an OpenPGP key gets PGP/MIME
// (signed with Ferry's OpenPGP key unless mode is SignNone), one with an
// S/MIME certificate gets S/MIME (signed with Ferry's certificate unless
// mode is SignNone): a reader checks the signature with the same tool that
// decrypts. The headers other than the Content-* ones stay outside.
func (id *Identity) Seal(msg []byte, mode string, to *PublicKey) ([]byte, error) {
	outer, inner, err := splitEntity(msg)
	if err != nil {
		return nil, err
	}
	boundarySeed := outer.Get("Message-Id")
	switch {
	case to == nil:
		switch mode {
		case SignOpenPGP:
			inner, err = id.signPGP(inner, boundarySeed)
		case SignSMIME:
			inner, err = id.signSMIME(inner, boundarySeed)
		case SignNone, "":
			return msg, nil
		default:
			return nil, fmt.Errorf("mailsec: signing mode %q: want openpgp, smime or none", mode)
		}
	case to.Kind == KindOpenPGP:
		inner, err = id.encryptPGP(inner, to, mode != SignNone, boundarySeed)
	case to.Kind == KindSMIME:
		if mode != SignNone {
			if inner, err = id.signSMIME(inner, boundarySeed); err != nil {
				return nil, err
			}
		}
		inner, err = encryptSMIME(inner, to)
	default:
		return nil, fmt.Errorf("mailsec: unknown key kind %q", to.Kind)
	}
	if err != nil {
		return nil, err
	}
	return joinEntity(outer, inner)
}

// splitEntity parses a message into its header without the Content-*
// fields and MIME-Version (outer) and the MIME entity those fields and the
// body make (inner), with CRLF line endings.
func splitEntity(msg []byte) (textproto.Header, []byte, error) {
	br := bufio.NewReader(bytes.NewReader(msg))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return textproto.Header{}, nil, fmt.Errorf("mailsec: message header: %w", err)
	}
	body, err := io.ReadAll(br)
	if err != nil {
		return textproto.Header{}, nil, err
	}
	var outer, content textproto.Header
	fields := h.Fields()
	var all [][2]string
	for fields.Next() {
		all = append(all, [2]string{fields.Key(), fields.Value()})
	}
	// Header.Add prepends; add in reverse to keep the order.
	for i := len(all) - 1; i >= 0; i-- {
		k, v := all[i][0], all[i][1]
		switch lk := strings.ToLower(k); {
		case lk == "mime-version":
		case strings.HasPrefix(lk, "content-"):
			content.Add(k, v)
		default:
			outer.Add(k, v)
		}
	}
	if !content.Has("Content-Type") {
		content.Set("Content-Type", "text/plain; charset=us-ascii")
	}
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, content); err != nil {
		return textproto.Header{}, nil, err
	}
	b.Write(crlf(body))
	return outer, b.Bytes(), nil
}

// joinEntity writes the outer header, MIME-Version and the new entity.
func joinEntity(outer textproto.Header, inner []byte) ([]byte, error) {
	outer.Set("MIME-Version", "1.0")
	var b bytes.Buffer
	// The entity's own header fields follow the outer ones directly.
	if err := writeFieldsOnly(&b, outer); err != nil {
		return nil, err
	}
	b.Write(inner)
	return b.Bytes(), nil
}

func writeFieldsOnly(w *bytes.Buffer, h textproto.Header) error {
	var tmp bytes.Buffer
	if err := textproto.WriteHeader(&tmp, h); err != nil {
		return err
	}
	w.Write(bytes.TrimSuffix(tmp.Bytes(), []byte("\r\n"))) // drop the blank line
	return nil
}

// crlf makes every line end in CRLF (the canonical form signatures cover).
func crlf(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// boundary derives a MIME boundary from the Message-ID and a purpose, so
// that a resent mail has the same structure.
func boundary(seed, purpose string) string {
	sum := sha256.Sum256([]byte(purpose + "\x00" + seed))
	return "ferry-" + purpose + "-" + hex.EncodeToString(sum[:12])
}

func (id *Identity) signPGP(entity []byte, seed string) ([]byte, error) {
	var sig bytes.Buffer
	cfg := &packet.Config{DefaultHash: crypto.SHA256}
	if err := openpgp.ArmoredDetachSign(&sig, id.pgp, bytes.NewReader(entity), cfg); err != nil {
		return nil, fmt.Errorf("mailsec: OpenPGP signature: %w", err)
	}
	micalg, err := pgpMicalg(sig.Bytes())
	if err != nil {
		return nil, err
	}
	bd := boundary(seed, "signed")
	var b bytes.Buffer
	fmt.Fprintf(&b, "Content-Type: multipart/signed; boundary=%q; micalg=%s;\r\n protocol=\"application/pgp-signature\"\r\n\r\n", bd, micalg)
	fmt.Fprintf(&b, "This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n--%s\r\n", bd)
	b.Write(entity)
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n"+
		"Content-Description: OpenPGP digital signature\r\nContent-Disposition: attachment; filename=\"signature.asc\"\r\n\r\n", bd)
	b.Write(crlf(sig.Bytes()))
	fmt.Fprintf(&b, "\r\n--%s--\r\n", bd)
	return b.Bytes(), nil
}

// pgpMicalg reads the hash of an armored signature for the micalg
// parameter (RFC 3156 §5): whichever hash the key's preferences chose.
func pgpMicalg(armored []byte) (string, error) {
	blk, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		return "", err
	}
	p, err := packet.Read(blk.Body)
	if err != nil {
		return "", err
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return "", errors.New("mailsec: signature packet expected")
	}
	names := map[crypto.Hash]string{crypto.SHA256: "pgp-sha256", crypto.SHA384: "pgp-sha384",
		crypto.SHA512: "pgp-sha512", crypto.SHA224: "pgp-sha224", crypto.SHA1: "pgp-sha1",
		crypto.SHA3_256: "pgp-sha3-256", crypto.SHA3_512: "pgp-sha3-512"}
	if n, ok := names[sig.Hash]; ok {
		return n, nil
	}
	return "", fmt.Errorf("mailsec: signature hash %v has no micalg name", sig.Hash)
}

func (id *Identity) signSMIME(entity []byte, seed string) ([]byte, error) {
	sd, err := pkcs7.NewSignedData(entity)
	if err != nil {
		return nil, fmt.Errorf("mailsec: S/MIME signature: %w", err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(id.cert, id.key, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, fmt.Errorf("mailsec: S/MIME signature: %w", err)
	}
	sd.Detach()
	der, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("mailsec: S/MIME signature: %w", err)
	}
	bd := boundary(seed, "smime")
	var b bytes.Buffer
	fmt.Fprintf(&b, "Content-Type: multipart/signed; boundary=%q; micalg=sha-256;\r\n protocol=\"application/pkcs7-signature\"\r\n\r\n", bd)
	fmt.Fprintf(&b, "This is an S/MIME signed message\r\n--%s\r\n", bd)
	b.Write(entity)
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"+
		"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n", bd)
	b.WriteString(base64Lines(der))
	fmt.Fprintf(&b, "--%s--\r\n", bd)
	return b.Bytes(), nil
}

func base64Lines(der []byte) string {
	s := base64.StdEncoding.EncodeToString(der)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
	return b.String()
}

// encryptPGP is RFC 3156 §6.2's combined method: the entity, signed by
// Ferry's key when sign is set, inside one OpenPGP message encrypted to
// the recipient.
func (id *Identity) encryptPGP(entity []byte, to *PublicKey, sign bool, seed string) ([]byte, error) {
	var signer *openpgp.Entity
	if sign {
		signer = id.pgp
	}
	var ct bytes.Buffer
	aw, err := armor.Encode(&ct, "PGP MESSAGE", nil)
	if err != nil {
		return nil, err
	}
	cfg := &packet.Config{DefaultHash: crypto.SHA256, DefaultCipher: packet.CipherAES256}
	pw, err := openpgp.Encrypt(aw, []*openpgp.Entity{to.pgp}, signer, &openpgp.FileHints{IsBinary: true}, cfg)
	if err != nil {
		return nil, fmt.Errorf("mailsec: OpenPGP encryption to %s: %w", to.Fingerprint, err)
	}
	if _, err := pw.Write(entity); err != nil {
		return nil, err
	}
	if err := pw.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	bd := boundary(seed, "encrypted")
	var b bytes.Buffer
	fmt.Fprintf(&b, "Content-Type: multipart/encrypted; boundary=%q;\r\n protocol=\"application/pgp-encrypted\"\r\n\r\n", bd)
	fmt.Fprintf(&b, "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n--%s\r\n", bd)
	b.WriteString("Content-Type: application/pgp-encrypted\r\nContent-Description: PGP/MIME version identification\r\n\r\nVersion: 1\r\n\r\n")
	fmt.Fprintf(&b, "--%s\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n"+
		"Content-Description: OpenPGP encrypted message\r\nContent-Disposition: inline; filename=\"encrypted.asc\"\r\n\r\n", bd)
	b.Write(crlf(ct.Bytes()))
	fmt.Fprintf(&b, "\r\n--%s--\r\n", bd)
	return b.Bytes(), nil
}

// encryptSMIME wraps the entity in CMS EnvelopedData (AES-256-CBC, RSA key
// transport) for the recipient's certificate.
func encryptSMIME(entity []byte, to *PublicKey) ([]byte, error) {
	der, err := pkcs7.Encrypt(entity, []*x509.Certificate{to.cert})
	if err != nil {
		return nil, fmt.Errorf("mailsec: S/MIME encryption to %s: %w", to.Fingerprint, err)
	}
	var b bytes.Buffer
	b.WriteString("Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=\"smime.p7m\"\r\n" +
		"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n")
	b.WriteString(base64Lines(der))
	return b.Bytes(), nil
}
