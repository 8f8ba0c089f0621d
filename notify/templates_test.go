package notify_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/notify"
)

// Templates in FERRY_NOTIFY_TEMPLATES replace the built-in ones file by
// file; a broken one is refused at load, naming the file.
func TestTemplateOverrides(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("test.subject.tmpl", "Hello {{.Partner.Slug}}\n{{.Partner.Name}}")
	write("test.html.tmpl", "<p>{{.Partner.Name}}</p>")
	tpl, err := notify.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, storeBackend(t, "sqlite"))
	n := e.notifier()
	n.Templates = tpl
	if _, err := e.outbox.SendTest(context.Background(), e.acme.ID); err != nil {
		t.Fatal(err)
	}
	runOnce(t, n)
	p := parse(t, e.relay.wait(1, 5*time.Second)[0].Data)
	if s, _ := p.Header.Subject(); s != "Hello acme ACME Corp" {
		t.Errorf("Subject %q: the override, on one line", s)
	}
	if p.HTML != "<p>ACME Corp</p>" || !strings.Contains(p.Text, "This is a test notification") {
		t.Errorf("HTML %q, text %q", p.HTML, p.Text)
	}

	write("upload.text.tmpl", "{{.Nope}}")
	if _, err := notify.LoadTemplates(dir); err == nil || !strings.Contains(err.Error(), "upload.text.tmpl") {
		t.Errorf("broken template: %v", err)
	}
	write("upload.text.tmpl", "{{if}}")
	if _, err := notify.LoadTemplates(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "upload.text.tmpl")) {
		t.Errorf("unparsable template: %v", err)
	}
}
