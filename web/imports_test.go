package web_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The web admin and the API are front ends side by side: the web package
// imports no other front end (cmd/ferry mounts both on one mux), and takes
// admin identity from package adminauth.
func TestWebImportsNoFrontEnd(t *testing.T) {
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
			case "github.com/ferryhq/ferry/api", "github.com/ferryhq/ferry/portal", "github.com/ferryhq/ferry/ftpd", "github.com/ferryhq/ferry/mailbox/imap",
				"github.com/ferryhq/ferry/mailbox/smtp", "github.com/ferryhq/ferry/mailbox/pop3", "github.com/ferryhq/ferry/internal/pop3":
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}
