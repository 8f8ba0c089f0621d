package portal_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The portal is a front end beside the others: it imports none of them
// (cmd/ferry mounts it on the one mux) and works through the cores.
func TestPortalImportsNoFrontEnd(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			switch path {
			case "github.com/ferryhq/ferry/api", "github.com/ferryhq/ferry/web", "github.com/ferryhq/ferry/ftpd", "github.com/ferryhq/ferry/mailbox/imap",
				"github.com/ferryhq/ferry/mailbox/smtp", "github.com/ferryhq/ferry/mailbox/pop3", "github.com/ferryhq/ferry/internal/pop3":
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}
