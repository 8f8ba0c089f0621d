package mailbox_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/mailsec/mailsectest"
)

// pgpMIME builds a PGP/MIME signed message (RFC 3156) whose signature gpg
// made over the entity, as a mail client does.
func pgpMIME(t *testing.T, g *mailsectest.GPG, signer, from, text string) string {
	t.Helper()
	entity := "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + text + "\r\n"
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "entity"), []byte(entity), 0o600)
	g.Run(nil, "--armor", "--local-user", signer, "--output", filepath.Join(dir, "sig.asc"), "--detach-sign", filepath.Join(dir, "entity"))
	sig, _ := os.ReadFile(filepath.Join(dir, "sig.asc"))
	return "From: " + from + "\r\nTo: acme@ferry.test\r\nSubject: signed\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/signed; boundary=\"b1\"; micalg=pgp-sha256; protocol=\"application/pgp-signature\"\r\n\r\n" +
		"--b1\r\n" + entity + "\r\n--b1\r\nContent-Type: application/pgp-signature\r\n\r\n" +
		strings.ReplaceAll(string(sig), "\n", "\r\n") + "\r\n--b1--\r\n"
}

// Signed mail is checked on delivery against the sender's registered key:
// valid, invalid when tampered, unknown_key when another key signed it;
// unsigned mail is not checked. S/MIME from openssl smime -sign too.
func TestDeliverVerifiesSignatures(t *testing.T) {
	each(t, func(t *testing.T, e *mailtest.Env) {
		ctx := context.Background()
		reg := &mailsec.Registry{Store: e.DB}
		e.Mail.Verifier = reg
		g := mailsectest.NewGPG(t)
		bob := g.GenKey("Bob <bob@partner.example>", "1y")
		eve := g.GenKey("Eve <eve@partner.example>", "1y")
		if _, err := reg.Add(ctx, mailsec.KindOpenPGP, "bob@partner.example", g.Export(bob)); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		cert, key := mailsectest.SMIMECert(t, dir, "carol", "carol@partner.example", "")
		certPEM, _ := os.ReadFile(cert)
		if _, err := reg.Add(ctx, mailsec.KindSMIME, "carol@partner.example", string(certPEM)); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "body.txt"), []byte("Hello from Carol\r\n"), 0o600)
		smime, _ := mailsectest.OpenSSL(t, dir, nil, false, "smime", "-sign", "-in", "body.txt", "-signer", cert, "-inkey", key, "-text")
		smime = "From: Carol <carol@partner.example>\r\nSubject: smime\r\n" + strings.ReplaceAll(strings.ReplaceAll(smime, "\r\n", "\n"), "\n", "\r\n")

		good := pgpMIME(t, g, bob, "Bob <bob@partner.example>", "the invoice is attached")
		for _, c := range []struct {
			name, raw, status, signer string
		}{
			{"valid", good, mailsec.SigValid, bob + " bob@partner.example"},
			{"tampered", strings.Replace(good, "the invoice", "THE invoice", 1), mailsec.SigInvalid, ""},
			{"unknown key", pgpMIME(t, g, eve, "bob@partner.example", "hi"), mailsec.SigUnknownKey, "key ID"},
			{"forged sender", pgpMIME(t, g, bob, "eve@partner.example", "hi"), mailsec.SigUnknownKey, ""},
			{"smime valid", smime, mailsec.SigValid, "carol@partner.example"},
			{"smime tampered", strings.Replace(smime, "Hello from Carol", "Hello from Eve!", 1), mailsec.SigInvalid, ""},
			{"not signed", string(mailtest.Message("plain", "no signature")), "", ""},
		} {
			d, err := e.Mail.Deliver(ctx, "acme", []byte(c.raw))
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			m, err := e.DB.MailMessageByID(ctx, e.Acme.ID, d.Messages[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if m.Signature != c.status || !strings.Contains(m.Signer, c.signer) {
				t.Errorf("%s: signature %q signer %q, want %q %q", c.name, m.Signature, m.Signer, c.status, c.signer)
			}
		}
		// Listings carry the result too.
		inbox, _ := e.Mail.Folder(ctx, e.Acme.ID, "INBOX")
		list, err := e.DB.MailMessagesByUID(ctx, inbox.ID, []int64{1}, false)
		if err != nil || len(list) != 1 || list[0].Signature != mailsec.SigValid {
			t.Fatalf("listing: %+v %v", list, err)
		}
	})
}
