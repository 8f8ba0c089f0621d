package notify_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/mailsec/mailsectest"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/store"
)

// ferryIdentity is Ferry's keys for these tests, made once per run (an
// RSA-3072 key takes a while).
var ferryIdentity = sync.OnceValues(func() (*mailsec.Identity, error) {
	dir, err := os.MkdirTemp("", "ferry-notify-keys")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	id, _, err := mailsec.LoadIdentity(mailsec.IdentityOptions{Email: "alerts@ferry.test", Name: "Ferry Alerts", DataDir: dir})
	return id, err
})

// secure is the env's notifier signing with sign and encrypting to the
// keys registered in the database.
func (e *env) secure(sign string) *notifyKit {
	e.t.Helper()
	id, err := ferryIdentity()
	if err != nil {
		e.t.Fatal(err)
	}
	n := e.notifier()
	reg := &mailsec.Registry{Store: e.db}
	n.Sealer, n.Sign, n.Keys = id, sign, reg
	return &notifyKit{n: n, id: id, reg: reg}
}

type notifyKit struct {
	n   *notify.Notifier
	id  *mailsec.Identity
	reg *mailsec.Registry
}

// uploadOne puts a file through FTP, and waits until its one upload alert
// (and its webhook deliveries) are queued: see uploadsFinished.
func (e *env) uploadOne(name, content string) {
	e.t.Helper()
	c := e.startFTP()
	if err := c.Stor(name, strings.NewReader(content)); err != nil {
		e.t.Fatal(err)
	}
	_ = c.Quit()
	e.uploadsFinished()
}

// byRecipient returns the relay's messages keyed by their only recipient
// (or the recipients joined with commas).
func byRecipient(msgs []received) map[string][]byte {
	out := map[string][]byte{}
	for _, m := range msgs {
		to := slices.Clone(m.To)
		slices.Sort(to)
		out[strings.Join(to, ",")] = m.Data
	}
	return out
}

// One mail per recipient with a key, encrypted to it and signed by Ferry
// (gpg and openssl decrypt them and report a good signature from Ferry's
// published keys); the others get one signed mail (S/MIME by default),
// and so does the partner mailbox.
func TestAlertsSignedAndEncrypted(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if err := e.db.AddSubscriber(ctx, e.acme.ID, "manager@ferry.test"); err != nil {
			t.Fatal(err)
		}
		kit := e.secure(mailsec.SignSMIME)
		g := mailsectest.NewGPG(t)
		ops := g.GenKey("Ops <ops@acme.example>", "1y")
		if _, err := kit.reg.Add(ctx, mailsec.KindOpenPGP, "ops@acme.example", g.Export(ops)); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		cert, key := mailsectest.SMIMECert(t, dir, "boss", "boss@acme.example", "")
		certPEM, _ := os.ReadFile(cert)
		if _, err := kit.reg.Add(ctx, mailsec.KindSMIME, "boss@acme.example", string(certPEM)); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "ferry.pem"), []byte(kit.id.SMIMECertificate()), 0o600)
		g.Import(kit.id.OpenPGPPublicKey())
		g.Trust(kit.id.OpenPGPFingerprint())

		e.uploadOne("Rechnung.csv", "42;43\n")
		if k, err := kit.n.RunOnce(ctx); err != nil || k != 1 {
			t.Fatalf("RunOnce: %d %v", k, err)
		}
		msgs := byRecipient(e.relay.wait(3, 10*time.Second))
		if len(msgs) != 3 {
			t.Fatalf("relay got mails for %v, want ops, boss and manager apart", keys(msgs))
		}

		// ops: PGP/MIME, decrypted by gpg with ops's secret key.
		m := string(msgs["ops@acme.example"])
		if !strings.Contains(m, "multipart/encrypted") || strings.Contains(m, "42;43") || !strings.Contains(m, "Message-Id: <") {
			t.Fatalf("mail to ops:\n%s", m)
		}
		armored := m[strings.Index(m, "-----BEGIN PGP MESSAGE-----") : strings.Index(m, "-----END PGP MESSAGE-----")+25]
		plain, stderr := g.Run([]byte(armored), "--decrypt")
		if !strings.Contains(stderr, `Good signature from "Ferry Alerts <alerts@ferry.test>"`) || !strings.Contains(plain, "Rechnung.csv") {
			t.Fatalf("gpg --decrypt: %s\n%s", stderr, plain)
		}

		// boss: S/MIME enveloped, decrypted and verified by openssl.
		os.WriteFile(filepath.Join(dir, "boss.eml"), msgs["boss@acme.example"], 0o600)
		if strings.Contains(string(msgs["boss@acme.example"]), "Rechnung.csv arrived") {
			t.Fatal("S/MIME mail in clear")
		}
		mailsectest.OpenSSL(t, dir, nil, false, "smime", "-decrypt", "-in", "boss.eml", "-recip", cert, "-inkey", key, "-out", "boss.dec")
		out, _ := mailsectest.OpenSSL(t, dir, nil, false, "cms", "-verify", "-in", "boss.dec", "-CAfile", "ferry.pem")
		if !strings.Contains(out, "Verification successful") || !strings.Contains(out, "Rechnung.csv") {
			t.Fatalf("boss's mail: %s", out)
		}

		// manager (no key): signed only, and the signature holds.
		os.WriteFile(filepath.Join(dir, "manager.eml"), msgs["manager@ferry.test"], 0o600)
		out, _ = mailsectest.OpenSSL(t, dir, nil, false, "cms", "-verify", "-in", "manager.eml", "-CAfile", "ferry.pem")
		if !strings.Contains(out, "Verification successful") || !strings.Contains(out, "Rechnung.csv") {
			t.Fatalf("manager's mail: %s", out)
		}

		// The partner mailbox copy is the signed mail.
		inbox := e.inbox(e.acme.ID)
		if len(inbox) != 1 {
			t.Fatalf("inbox %d", len(inbox))
		}
		rows := e.rows(store.NotificationFilter{PartnerID: e.acme.ID})
		if len(rows) != 1 || rows[0].Status != store.NotifySent || !strings.Contains(rows[0].Recipients, "ops@acme.example") {
			t.Fatalf("row %+v", rows)
		}
	})
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// A partner that requires encryption never gets a clear alert: the alert
// waits as blocked while a recipient has no key, and goes out encrypted
// once the key is registered.
func TestRequiredEncryptionBlocksUntilKey(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.acme.EncryptAlerts = store.EncryptAlertsRequired
		if err := e.db.UpdatePartner(ctx, e.acme); err != nil {
			t.Fatal(err)
		}
		kit := e.secure(mailsec.SignOpenPGP)
		g := mailsectest.NewGPG(t)
		ops := g.GenKey("Ops <ops@acme.example>", "1y")
		boss := g.GenKey("Boss <boss@acme.example>", "1y")
		if _, err := kit.reg.Add(ctx, mailsec.KindOpenPGP, "ops@acme.example", g.Export(ops)); err != nil {
			t.Fatal(err)
		}
		e.uploadOne("secret.csv", "top secret\n")
		if k, err := kit.n.RunOnce(ctx); err != nil || k != 1 {
			t.Fatalf("RunOnce: %d %v", k, err)
		}
		rows := e.rows(store.NotificationFilter{PartnerID: e.acme.ID})
		if len(rows) != 1 || rows[0].Status != store.NotifyBlocked || !strings.Contains(rows[0].LastError, "boss@acme.example") ||
			rows[0].Attempts != 0 {
			t.Fatalf("row %+v", rows)
		}
		if b := e.rows(store.NotificationFilter{Status: store.NotifyBlocked}); len(b) != 1 {
			t.Fatalf("blocked filter %+v", b)
		}
		// Not due again before the recheck, and nothing went out.
		if k, _ := kit.n.RunOnce(ctx); k != 0 {
			t.Fatalf("claimed a blocked alert again at once: %d", k)
		}
		time.Sleep(100 * time.Millisecond)
		if msgs := e.relay.messages(); len(msgs) != 0 {
			t.Fatalf("a blocked alert was sent: %s", msgs[0].Data)
		}
		if inbox := e.inbox(e.acme.ID); len(inbox) != 0 {
			t.Fatalf("a blocked alert reached the mailbox")
		}

		// The missing key arrives: the alert goes out at once, encrypted.
		if _, err := kit.reg.Add(ctx, mailsec.KindOpenPGP, "boss@acme.example", g.Export(boss)); err != nil {
			t.Fatal(err)
		}
		if k, err := kit.n.RunOnce(ctx); err != nil || k != 1 {
			t.Fatalf("RunOnce after the key: %d %v", k, err)
		}
		msgs := e.relay.wait(2, 10*time.Second)
		for _, m := range msgs {
			if len(m.To) != 1 || !bytes.Contains(m.Data, []byte("multipart/encrypted")) || bytes.Contains(m.Data, []byte("top secret")) ||
				bytes.Contains(m.Data, []byte("text/plain")) {
				t.Fatalf("mail to %v is not encrypted:\n%s", m.To, m.Data)
			}
		}
		rows = e.rows(store.NotificationFilter{PartnerID: e.acme.ID})
		if rows[0].Status != store.NotifySent {
			t.Fatalf("row %+v", rows[0])
		}
	})
}

// A key that expired since it was registered: the recipient gets the
// signed mail, and the row and the log say so.
func TestExpiredKeyGetsSignedMail(t *testing.T) {
	e := newEnv(t, storeBackend(t, "sqlite"))
	ctx := context.Background()
	kit := e.secure(mailsec.SignOpenPGP)
	g := mailsectest.NewGPG(t)
	ops := g.GenKey("Ops <ops@acme.example>", "1d")
	if _, err := kit.reg.Add(ctx, mailsec.KindOpenPGP, "ops@acme.example", g.Export(ops)); err != nil {
		t.Fatal(err)
	}
	// Two days later, as the register sees it.
	kit.reg.Now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	e.uploadOne("a.csv", "x\n")
	if k, err := kit.n.RunOnce(ctx); err != nil || k != 1 {
		t.Fatalf("RunOnce: %d %v", k, err)
	}
	// The alert, signed, to the contacts; a warning to the operators.
	msgs := byRecipient(e.relay.wait(2, 10*time.Second))
	alert := msgs["boss@acme.example,ops@acme.example"]
	if !bytes.Contains(alert, []byte(`protocol="application/pgp-signature"`)) || bytes.Contains(alert, []byte("multipart/encrypted")) {
		t.Fatalf("mails to %v; the alert:\n%s", keys(msgs), alert)
	}
	warning := strings.ReplaceAll(string(msgs["operator@ferry.test"]), "=\r\n", "") // quoted-printable soft breaks
	if !strings.Contains(warning, "X-Ferry-Kind: key-warning") || !strings.Contains(warning, "signed but not encrypted") || !strings.Contains(warning, ops) ||
		!strings.Contains(warning, "ops@acme.example") {
		t.Fatalf("operators' warning:\n%s", warning)
	}
	rows := e.rows(store.NotificationFilter{PartnerID: e.acme.ID})
	if rows[0].Status != store.NotifySent || !strings.Contains(rows[0].LastError, "no longer usable") || !strings.Contains(rows[0].LastError, ops) {
		t.Fatalf("row %+v", rows[0])
	}
}

// The upload alert carries the file's protection: the keys it is
// encrypted to and the check of its detached signature.
func TestUploadAlertNamesSignatureAndEncryption(t *testing.T) {
	e := newEnv(t, storeBackend(t, "sqlite"))
	ctx := context.Background()
	pid := e.acme.ID
	tr := &store.Transfer{ID: store.NewID(), PartnerID: &pid, Path: "/inv.csv.pgp", FileSize: 123, SHA256: strings.Repeat("ab", 32),
		Username: "alice", EncryptedTo: "ABCDEF0123", Signature: mailsec.SigValid, Signer: "FPR ops@acme.example"}
	if err := e.outbox.OnUpload(ctx, e.db, tr); err != nil {
		t.Fatal(err)
	}
	n := e.notifier()
	if k := runOnce(t, n); k != 1 {
		t.Fatalf("claimed %d", k)
	}
	m := parse(t, e.relay.wait(1, 10*time.Second)[0].Data)
	for _, want := range []string{"Encrypted to OpenPGP keys ABCDEF0123", "Signature: valid: FPR ops@acme.example"} {
		if !strings.Contains(m.Text, want) {
			t.Fatalf("alert text lacks %q:\n%s", want, m.Text)
		}
	}
	if !strings.Contains(m.HTML, "<code>ABCDEF0123</code>") || !strings.Contains(m.HTML, "Signature: valid: FPR ops@acme.example") {
		t.Fatalf("alert HTML:\n%s", m.HTML)
	}
}

// Without a relay nothing is sent in clear, so a partner that requires
// encryption still gets its mailbox copy (signed) at once.
func TestRequiredEncryptionWithoutRelay(t *testing.T) {
	e := newEnv(t, storeBackend(t, "sqlite"))
	ctx := context.Background()
	e.acme.EncryptAlerts = store.EncryptAlertsRequired
	if err := e.db.UpdatePartner(ctx, e.acme); err != nil {
		t.Fatal(err)
	}
	e.uploadOne("a.csv", "x\n")
	n := e.notifier()
	id, _ := ferryIdentity()
	n.Relay, n.Sealer, n.Keys = nil, id, &mailsec.Registry{Store: e.db}
	if k := runOnce(t, n); k != 1 {
		t.Fatalf("claimed %d", k)
	}
	rows := e.rows(store.NotificationFilter{PartnerID: e.acme.ID})
	if rows[0].Status != store.NotifySent {
		t.Fatalf("row %+v", rows[0])
	}
	inbox := e.inbox(e.acme.ID)
	if len(inbox) != 1 || inbox[0].Signature != mailsec.SigNone {
		// The test mailbox store has no Verifier: the copy is stored, unchecked.
		t.Fatalf("inbox %+v", inbox)
	}
}

// One of the per-recipient mails fails for now: the retry mails only the
// recipients that did not get theirs, so nobody gets the alert twice.
func TestEncryptedRetryMailsOnlyTheMissing(t *testing.T) {
	e := newEnv(t, storeBackend(t, "sqlite"))
	ctx := context.Background()
	kit := e.secure(mailsec.SignOpenPGP)
	g := mailsectest.NewGPG(t)
	for _, uid := range []string{"Ops <ops@acme.example>", "Boss <boss@acme.example>"} {
		fpr := g.GenKey(uid, "1y")
		if _, err := kit.reg.Add(ctx, mailsec.KindOpenPGP, strings.Split(strings.Split(uid, "<")[1], ">")[0], g.Export(fpr)); err != nil {
			t.Fatal(err)
		}
	}
	e.relay.mu.Lock()
	e.relay.rcptErr = map[string]*smtp.SMTPError{"boss@acme.example": {Code: 451, Message: "try later"}}
	e.relay.mu.Unlock()
	e.uploadOne("a.csv", "x\n")
	n := kit.n
	n.BackoffBase = time.Millisecond
	n.BackoffMax = time.Millisecond
	if k := runOnce(t, n); k != 1 {
		t.Fatalf("claimed %d", k)
	}
	rows := e.rows(store.NotificationFilter{PartnerID: e.acme.ID})
	if rows[0].Status != store.NotifyPending || rows[0].Recipients != "ops@acme.example" {
		t.Fatalf("after the first attempt: %+v", rows[0])
	}
	e.relay.mu.Lock()
	e.relay.rcptErr = nil
	e.relay.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	if k := runOnce(t, n); k != 1 {
		t.Fatalf("retry claimed %d", k)
	}
	msgs := e.relay.wait(2, 10*time.Second)
	time.Sleep(100 * time.Millisecond)
	if got := byRecipient(e.relay.messages()); len(got) != 2 || len(e.relay.messages()) != 2 {
		t.Fatalf("mails to %v (%d), want ops once and boss once", keys(got), len(msgs))
	}
	rows = e.rows(store.NotificationFilter{PartnerID: e.acme.ID})
	if rows[0].Status != store.NotifySent || !strings.Contains(rows[0].Recipients, "boss@acme.example") || !strings.Contains(rows[0].Recipients, "ops@acme.example") {
		t.Fatalf("after the retry: %+v", rows[0])
	}
}
