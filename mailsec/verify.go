package mailsec

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/smallstep/pkcs7"
)

// Results of verifying a signature.
const (
	SigNone       = ""            // not a signed message (or a kind Ferry does not check)
	SigValid      = "valid"       // a good signature by a registered key of the sender
	SigInvalid    = "invalid"     // the signature does not match the content (or is malformed)
	SigUnknownKey = "unknown_key" // intact or not, made by no key registered for the sender
)

// Verification is what a signature check found.
type Verification struct {
	Status string // SigNone, SigValid, SigInvalid or SigUnknownKey
	Kind   string // KindOpenPGP or KindSMIME; "" when not signed
	// Signer names the key: "<fingerprint> <email>" for a registered key,
	// the key ID or certificate subject otherwise.
	Signer string
	Detail string // why, for invalid and unknown_key
}

// VerifyMessage checks the signature of a PGP/MIME (RFC 3156) or S/MIME
// (RFC 8551) multipart/signed message against keys, the keys registered
// for its sender. Anything else (including encrypted mail, which is stored
// as it arrived) is SigNone.
func VerifyMessage(raw []byte, keys []*PublicKey, now time.Time) Verification {
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return Verification{}
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/signed" || params["boundary"] == "" {
		return Verification{}
	}
	var kind string
	switch strings.ToLower(params["protocol"]) {
	case "application/pgp-signature":
		kind = KindOpenPGP
	case "application/pkcs7-signature", "application/x-pkcs7-signature":
		kind = KindSMIME
	default:
		return Verification{}
	}
	body, _ := io.ReadAll(br)
	signed, sigPart, err := splitSigned(crlf(body), params["boundary"])
	if err != nil {
		return Verification{Status: SigInvalid, Kind: kind, Detail: err.Error()}
	}
	if kind == KindOpenPGP {
		return verifyPGP(signed, sigPart, keys, now)
	}
	return verifySMIME(signed, sigPart, keys)
}

// splitSigned returns the first body part of a multipart/signed entity
// exactly as it was signed (RFC 1847: up to, not including, the CRLF
// before the next delimiter) and the decoded body of the second part.
func splitSigned(body []byte, boundary string) (signed, sig []byte, err error) {
	delim := []byte("--" + boundary)
	start := bytes.Index(body, delim)
	if start < 0 || (start > 0 && !bytes.HasSuffix(body[:start], []byte("\r\n"))) {
		return nil, nil, errors.New("no first part")
	}
	rest := body[start+len(delim):]
	eol := bytes.Index(rest, []byte("\r\n"))
	if eol < 0 {
		return nil, nil, errors.New("no first part")
	}
	rest = rest[eol+2:]
	sep := append([]byte("\r\n"), delim...)
	end := bytes.Index(rest, sep)
	if end < 0 {
		return nil, nil, errors.New("no signature part")
	}
	signed = rest[:end]
	rest = rest[end+len(sep):]
	if eol = bytes.Index(rest, []byte("\r\n")); eol < 0 {
		return nil, nil, errors.New("no signature part")
	}
	rest = rest[eol+2:]
	if end = bytes.Index(rest, sep); end < 0 {
		return nil, nil, errors.New("the signature part does not end")
	}
	part := bufio.NewReader(bytes.NewReader(rest[:end]))
	ph, err := textproto.ReadHeader(part)
	if err != nil {
		return nil, nil, fmt.Errorf("signature part: %w", err)
	}
	data, _ := io.ReadAll(part)
	if strings.EqualFold(strings.TrimSpace(ph.Get("Content-Transfer-Encoding")), "base64") {
		clean := strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, string(data))
		if data, err = base64.StdEncoding.DecodeString(clean); err != nil {
			return nil, nil, fmt.Errorf("signature part: %w", err)
		}
	}
	return signed, data, nil
}

func verifyPGP(signed, sig []byte, keys []*PublicKey, now time.Time) Verification {
	v := VerifyDetached(bytes.NewReader(signed), sig, keys, now)
	if v.Status == SigUnknownKey {
		v.Detail = "no key registered for the sender made this signature"
	}
	return v
}

func verifySMIME(signed, der []byte, keys []*PublicKey) Verification {
	v := Verification{Kind: KindSMIME}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return Verification{Status: SigInvalid, Kind: KindSMIME, Detail: "malformed signature: " + err.Error()}
	}
	p7.Content = signed
	if c := p7.GetOnlySigner(); c != nil {
		v.Signer = CertFingerprint(c) + " " + strings.Join(certEmails(c), ",")
	}
	// The certificate in the message proves nothing by itself; the
	// registered one does. Verify checks the content against the
	// signer's certificate carried in the message, then that certificate
	// must be one registered for the sender.
	if err := p7.Verify(); err != nil {
		v.Status, v.Detail = SigInvalid, err.Error()
		return v
	}
	c := p7.GetOnlySigner()
	if c == nil {
		v.Status, v.Detail = SigUnknownKey, "the signature names no single signer certificate"
		return v
	}
	fp := CertFingerprint(c)
	for _, k := range keys {
		if k.Kind == KindSMIME && k.Fingerprint == fp {
			v.Status, v.Signer = SigValid, k.Fingerprint+" "+k.Email
			return v
		}
	}
	v.Status, v.Detail = SigUnknownKey, "the signer's certificate is not registered for the sender"
	return v
}
