package notify

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/mail"
	"os"
	"path"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
)

//go:embed templates/*.tmpl
var builtin embed.FS

// kinds that have templates: <kind>.subject.tmpl, <kind>.text.tmpl and
// <kind>.html.tmpl each.
var templateKinds = []string{"upload", "quota", "test", "expectation"}

// Templates render each kind of alert: the Subject and the text part with
// text/template, the HTML part with html/template (which escapes every
// value). The zero value is not useful; use LoadTemplates.
type Templates struct {
	subject map[string]*texttemplate.Template
	text    map[string]*texttemplate.Template
	html    map[string]*htmltemplate.Template
}

// LoadTemplates returns the built-in templates, each replaced by the file of
// the same name in dir when there is one (dir "" keeps all built-in). The
// names are upload.subject.tmpl, upload.text.tmpl, upload.html.tmpl and the
// same for quota, test and expectation; the data is a Data value.
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{subject: map[string]*texttemplate.Template{}, text: map[string]*texttemplate.Template{},
		html: map[string]*htmltemplate.Template{}}
	read := func(name string) (string, []byte, error) {
		if dir != "" {
			p := filepath.Join(dir, name)
			b, err := os.ReadFile(p)
			if err == nil {
				return p, b, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return p, nil, err
			}
		}
		b, err := builtin.ReadFile(path.Join("templates", name))
		return "built-in " + name, b, err
	}
	for _, kind := range templateKinds {
		for _, part := range []string{"subject", "text", "html"} {
			name := kind + "." + part + ".tmpl"
			src, b, err := read(name)
			if err != nil {
				return nil, fmt.Errorf("template %s: %w", src, err)
			}
			switch part {
			case "html":
				tpl, err := htmltemplate.New(name).Option("missingkey=error").Parse(string(b))
				if err != nil {
					return nil, fmt.Errorf("template %s: %w", src, err)
				}
				t.html[kind] = tpl
			default:
				tpl, err := texttemplate.New(name).Option("missingkey=error").Parse(string(b))
				if err != nil {
					return nil, fmt.Errorf("template %s: %w", src, err)
				}
				if part == "subject" {
					t.subject[kind] = tpl
				} else {
					t.text[kind] = tpl
				}
			}
		}
	}
	// Render a sample of each kind now, so a broken override stops Ferry
	// at start rather than killing mails later.
	for _, kind := range templateKinds {
		if _, _, _, err := t.render(sampleData(kind)); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Data is what the templates see. Every string that comes from a user
// (file and folder names, account and partner names) has been made safe:
// control characters, including CR and LF, are replaced by U+FFFD.
type Data struct {
	Kind    string // upload, quota, test, expectation
	Partner PartnerInfo
	Files   []FileInfo // uploads: one, or several in a digest (every one)
	// Listed is the first ListedFiles of Files, the ones the built-in
	// templates name; More is how many of Files are not in Listed, and
	// TotalSize (TotalText) the size of all of Files.
	Listed    []FileInfo
	More      int
	TotalSize int64
	TotalText string
	Quota     *QuotaInfo // quota alerts
	// Expectation is an expected delivery that was missed, or came late
	// after a miss.
	Expectation *ExpectationInfo
	Mailbox     string // the partner's Ferry mailbox address
	MessageID   string
	Time        time.Time // when the alert was raised
	TimeText    string
	Subject     string // the rendered subject (for the text and HTML bodies)

	// operatorsOnly: the alert is for operator addresses only, so no copy
	// goes into the partner's mailbox.
	operatorsOnly bool
}

// ListedFiles is the most files the built-in upload templates name in one
// alert; a digest of more says how many more there are and their size. A
// burst of a thousand small uploads made a 435 KB digest that listed every
// file in text and HTML (2026-12-07): past what mail clients show
// unclipped, and about a quarter of the CPU of its alerts (render, sign,
// store).
const ListedFiles = 50

// setFiles sets Files and what the templates say of them.
func (d *Data) setFiles(files []FileInfo) {
	d.Files, d.Listed, d.More, d.TotalSize = files, files[:min(len(files), ListedFiles)], max(len(files)-ListedFiles, 0), 0
	for _, f := range files {
		d.TotalSize += f.Size
	}
	d.TotalText = SizeText(d.TotalSize)
}

// PartnerInfo names the partner.
type PartnerInfo struct{ Slug, Name string }

// FileInfo is one uploaded file.
type FileInfo struct {
	Name     string // base name
	Folder   string // folder in the partner's tree, "/" for the top
	Path     string // Folder + Name
	Size     int64
	SizeText string // "1.5 MiB (1572864 bytes)"
	SHA256   string // hex
	Account  string // the uploader's user name
	Time     time.Time
	TimeText string // UTC, RFC 3339
	// Encrypted names the OpenPGP keys the stored file is encrypted to
	// ("" when stored as uploaded); Signature the check of its detached
	// signature ("valid: <key>", "invalid", ...; "" when none).
	Encrypted string
	Signature string
}

// QuotaInfo is a quota crossing.
type QuotaInfo struct {
	Threshold             int // percent
	Percent               int // usage now, percent of the tighter quota
	UsedBytes, QuotaBytes int64
	UsedFiles, QuotaFiles int64
	UsedText, QuotaText   string
}

// safe makes a user-supplied string harmless anywhere in a message: valid
// UTF-8, no control characters (CR, LF, NUL, ESC...), no Unicode line
// separators or bidirectional overrides, at most 512 bytes.
func safe(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20, r >= 0x7f && r <= 0x9f, r == 0x2028, r == 0x2029,
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return '\uFFFD'
		}
		return r
	}, s)
	return truncate(s, 512)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// oneLine makes a rendered subject one header line's worth of text.
func oneLine(s string) string {
	s = safe(strings.TrimSpace(s))
	s = strings.ReplaceAll(s, "\uFFFD", " ")
	return truncate(strings.Join(strings.Fields(s), " "), 250)
}

// SizeText writes a byte count for people: "1.5 MiB (1572864 bytes)".
func SizeText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB (%d bytes)", float64(n)/float64(div), "KMGTPE"[exp], n)
}

func timeText(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func fileInfo(p UploadPayload) FileInfo {
	clean := path.Clean("/" + p.Path)
	dir, name := path.Split(clean)
	if dir != "/" {
		dir = strings.TrimSuffix(dir, "/")
	}
	t := p.FinishedAt
	fi := FileInfo{Name: safe(name), Folder: safe(dir), Path: safe(clean), Size: p.Size, SizeText: SizeText(p.Size),
		SHA256: safe(p.SHA256), Account: safe(p.Username), Time: t, TimeText: timeText(t), Encrypted: safe(p.EncryptedTo)}
	if p.Signature != "" {
		fi.Signature = safe(strings.ReplaceAll(p.Signature, "_", " "))
		if p.Signer != "" {
			fi.Signature += ": " + safe(p.Signer)
		}
	}
	return fi
}

func (t *Templates) render(d *Data) (subject string, text, html []byte, err error) {
	var b bytes.Buffer
	if err := t.subject[d.Kind].Execute(&b, d); err != nil {
		return "", nil, nil, fmt.Errorf("template %s.subject.tmpl: %w", d.Kind, err)
	}
	subject = oneLine(b.String())
	d.Subject = subject
	var tb, hb bytes.Buffer
	if err := t.text[d.Kind].Execute(&tb, d); err != nil {
		return "", nil, nil, fmt.Errorf("template %s.text.tmpl: %w", d.Kind, err)
	}
	if err := t.html[d.Kind].Execute(&hb, d); err != nil {
		return "", nil, nil, fmt.Errorf("template %s.html.tmpl: %w", d.Kind, err)
	}
	return subject, tb.Bytes(), hb.Bytes(), nil
}

// Envelope is who a message is from and to, in its header.
type Envelope struct {
	From *mail.Address
	To   []*mail.Address // header To; the envelope may hold more (subscribers, operators)
}

// Compose renders d into a complete RFC 5322 message: multipart/alternative
// with text and HTML parts (quoted-printable, UTF-8), Subject (RFC 2047
// encoded when not ASCII), Date, Message-ID, From, To, and
// Auto-Submitted: auto-generated so that vacation responders keep quiet.
// Header values come only from safe strings and go-message's encoder,
// which refuses CR and LF, so no value can start a header of its own.
func (t *Templates) Compose(d *Data, env Envelope, date time.Time) ([]byte, error) {
	subject, text, html, err := t.render(d)
	if err != nil {
		return nil, err
	}
	var h gomail.Header
	h.SetDate(date)
	h.SetMessageID(d.MessageID)
	h.SetAddressList("From", []*gomail.Address{(*gomail.Address)(env.From)})
	to := make([]*gomail.Address, 0, len(env.To))
	for _, a := range env.To {
		to = append(to, (*gomail.Address)(a))
	}
	if len(to) > 0 {
		h.SetAddressList("To", to)
	}
	h.SetSubject(subject)
	h.Set("Auto-Submitted", "auto-generated")
	h.Set("X-Ferry-Partner", d.Partner.Slug)
	h.Set("X-Ferry-Kind", d.Kind)
	h.Set("MIME-Version", "1.0")
	// The boundary derives from the Message-ID, so that a resend is the
	// same message byte for byte. The Message-ID holds a random UUID: no
	// one can plant the boundary in a file name ahead of time.
	sum := sha256.Sum256([]byte(d.MessageID))
	h.SetContentType("multipart/alternative", map[string]string{"boundary": "ferry-" + hex.EncodeToString(sum[:15])})
	var buf bytes.Buffer
	mw, err := message.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	for _, p := range []struct {
		ctype string
		body  []byte
	}{{"text/plain", text}, {"text/html", html}} {
		var ph message.Header
		ph.SetContentType(p.ctype, map[string]string{"charset": "utf-8"})
		ph.Set("Content-Transfer-Encoding", "quoted-printable")
		ph.Set("Content-Disposition", "inline")
		w, err := mw.CreatePart(ph)
		if err != nil {
			return nil, fmt.Errorf("compose: %w", err)
		}
		if _, err := w.Write(p.body); err != nil {
			return nil, fmt.Errorf("compose: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("compose: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return buf.Bytes(), nil
}

// sampleData is what LoadTemplates renders to check the templates.
func sampleData(kind string) *Data {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	d := &Data{Kind: kind, Partner: PartnerInfo{Slug: "acme", Name: "ACME Corp"}, Mailbox: "acme@ferry.localhost",
		MessageID: "sample@ferry.localhost", Time: now, TimeText: timeText(now)}
	switch kind {
	case "upload":
		d.setFiles([]FileInfo{fileInfo(UploadPayload{Path: "/in/report.csv", Size: 1234, SHA256: strings.Repeat("ab", 32),
			Username: "alice", FinishedAt: now})})
	case "quota":
		d.Quota = quotaInfo(QuotaPayload{Threshold: 80, UsedBytes: 85, QuotaBytes: 100})
	case "expectation":
		d.Expectation = expectationInfo(ExpectationPayload{Folder: "/in", Pattern: "*.csv", Count: 1, Schedule: "0 6 * * 1-5",
			TimeZone: "Europe/Berlin", Grace: "30m0s", DeadlineLocal: "2024-01-02 06:00 CET", Outcome: OutcomeMissed})
	}
	return d
}
