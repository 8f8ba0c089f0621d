package docs_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
)

// A shell example of a Markdown file: the text of a ```sh fence.
type block struct {
	file string // README.md, docs/api.md
	line int    // line of the block's first command in file
	text string
}

// TestShellBlocks runs the ```sh blocks of README.md and docs/*.md as
// printed, top to bottom, one file at a time: each file gets a fresh data
// dir and a Ferry built from this tree, started there before the file's
// first block, as a reader who followed the README's first command has.
//
// The examples name the default addresses (127.0.0.1:2121, :8080, :2525,
// :1143, :1110); the test gives every listener a free port and rewrites
// those addresses in the block text, so it runs beside a Ferry on its
// defaults. "go build -o ferry ./cmd/ferry" is already done (the test's
// binary is ./ferry in the work folder) and "go run ./cmd/ferry" becomes
// "./ferry". A block that starts the server ("go run ./cmd/ferry", "./ferry",
// "./ferry serve") holds nothing else and is skipped: the server runs. The
// block holding the test command is skipped (it is this suite). Examples
// that cannot run here (Docker, benchmarks that install packages) are
// fenced ```console instead of ```sh.
//
// Blocks run under bash with set -euo pipefail, and curl fails on an HTTP
// error status (--fail-with-body is added unless the example passes -f), so
// an example answering 404 fails the test.
func TestShellBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts ferry")
	}
	bash := testenv.Need(t, "bash")
	files := []string{"../README.md"}
	more, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, more...)
	var all [][]block
	for _, f := range files {
		bs, err := extractBlocks(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) > 0 {
			all = append(all, bs)
		}
	}
	if len(all) == 0 {
		t.Fatal("no ```sh blocks found in README.md and docs/*.md")
	}

	bin := filepath.Join(t.TempDir(), "ferry")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/ferry").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	for _, bs := range all {
		t.Run(bs[0].file, func(t *testing.T) { runFile(t, bash, bin, bs) })
	}
}

func extractBlocks(path string) ([]block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	name := strings.TrimPrefix(filepath.ToSlash(path), "../")
	if name == filepath.Base(path) && name != "README.md" {
		name = "docs/" + name
	}
	var (
		out  []block
		cur  *block
		text strings.Builder
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			if strings.TrimSpace(strings.TrimPrefix(l, "```")) == "sh" {
				cur = &block{file: name, line: n + 1}
				text.Reset()
			} else {
				cur = &block{} // another fence: skip to its end
			}
		case cur != nil && strings.HasPrefix(l, "```"):
			if cur.file != "" {
				cur.text = text.String()
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil:
			text.WriteString(l)
			text.WriteByte('\n')
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s: a fence is never closed", name)
	}
	return out, sc.Err()
}

// The listeners of the Ferry a file's examples talk to.
type addrs struct {
	ftp, http, smtp, imap, pop3 string
	passive                     string // "first-last"
}

// The default ports the examples may name, and which listener each is.
func (a addrs) rewrites() []string {
	var r []string
	for port, addr := range map[string]string{"2121": a.ftp, "8080": a.http, "2525": a.smtp, "1143": a.imap, "1110": a.pop3} {
		_, p, _ := net.SplitHostPort(addr)
		for _, host := range []string{"127.0.0.1", "localhost"} {
			r = append(r, host+":"+port, host+":"+p)
		}
	}
	return r
}

var (
	// A default port left in an example after the rewrite would reach a
	// Ferry running on its defaults beside the tests, not the test's own.
	defaultPort = regexp.MustCompile(`\b(2121|8080|2525|1143|1110|990|9990)\b`)
	// Commands that do not run here, or not in a test: fence them ```console.
	notRunnable = regexp.MustCompile(`(?m)(^|[;&|(]\s*)(docker|docker-compose|go|sudo|apt-get|apt)\s`)
	tools       = regexp.MustCompile(`\b(curl|lftp|swaks|openssl|python3|gpg)\b`)
	serveLine   = regexp.MustCompile(`^\./ferry( serve)?$`)
	failedAt    = regexp.MustCompile(`docs-test: exit (\d+) at script line (\d+)`)
)

const testCommand = "go test -race -count=1 ./..."

// command is a line without its trailing comment, trimmed.
func command(line string) string {
	if i := strings.Index(line, " #"); i >= 0 && !strings.ContainsAny(line[:i], `'"`) {
		line = line[:i]
	}
	if strings.HasPrefix(strings.TrimSpace(line), "#") {
		return ""
	}
	return strings.TrimSpace(line)
}

// prepare returns the text of a block as the test runs it, or "" for a
// block the test skips.
func prepare(t *testing.T, b block, a addrs) string {
	t.Helper()
	var cmds []string
	for _, l := range strings.Split(b.text, "\n") {
		if c := command(l); c != "" {
			cmds = append(cmds, c)
		}
	}
	for _, c := range cmds {
		if c == testCommand {
			if len(cmds) != 1 {
				t.Fatalf("%s:%d: the test command belongs in a block of its own", b.file, b.line)
			}
			return ""
		}
		c = strings.Replace(c, "go run ./cmd/ferry", "./ferry", 1)
		if serveLine.MatchString(c) {
			if len(cmds) != 1 {
				t.Fatalf("%s:%d: a block that starts the server must hold only that command, so that a reader can run it in a terminal of its own", b.file, b.line)
			}
			return ""
		}
	}
	text := strings.ReplaceAll(b.text, "go build -o ferry ./cmd/ferry", ": built by the test: go build -o ferry ./cmd/ferry")
	text = strings.ReplaceAll(text, "go run ./cmd/ferry", "./ferry")
	if m := notRunnable.FindString(text); m != "" {
		t.Fatalf("%s:%d: %q cannot run in a test: fence the block ```console", b.file, b.line, strings.TrimSpace(m))
	}
	text = strings.NewReplacer(a.rewrites()...).Replace(text)
	for _, l := range strings.Split(text, "\n") {
		if c := command(l); c != "" && !strings.HasPrefix(c, ":") && defaultPort.MatchString(c) {
			t.Fatalf("%s:%d: %q names a default port the test cannot move: write it as 127.0.0.1:PORT", b.file, b.line, c)
		}
	}
	return text
}

func runFile(t *testing.T, bash, bin string, blocks []block) {
	work := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(work, "ferry")); err != nil {
		t.Fatal(err)
	}
	a := addrs{ftp: testenv.FreePort(t), http: testenv.FreePort(t), smtp: testenv.FreePort(t), imap: testenv.FreePort(t),
		pop3: testenv.FreePort(t), passive: testenv.PortRange(t, 16)}
	env := []string{
		"HOME=" + work, // lftp keeps its history there
		"FERRY_FTP_ADDR=" + a.ftp,
		"FERRY_FTPS_ADDR=", // off, as by default: named so nothing is inherited
		"FERRY_FTP_PASSIVE_PORTS=" + a.passive,
		"FERRY_HTTP_ADDR=" + a.http,
		"FERRY_SMTP_ADDR=" + a.smtp,
		"FERRY_IMAP_ADDR=" + a.imap,
		"FERRY_POP3_ADDR=" + a.pop3,
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FERRY_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}

	// The script: every block of the file in order, and where each of its
	// lines comes from.
	var (
		script strings.Builder
		origin = map[int]string{}
		line   = 1
	)
	emit := func(s, from string) {
		for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
			script.WriteString(l)
			script.WriteByte('\n')
			if from != "" {
				origin[line] = from
			}
			line++
		}
	}
	emit(`set -euo pipefail
trap 'echo "docs-test: exit $? at script line $LINENO" >&2' ERR
curl() {
	local a
	for a in "$@"; do
		if [[ $a =~ ^(-[a-zA-Z]*f[a-zA-Z]*|--fail|--fail-with-body)$ ]]; then command curl "$@" || return; return; fi
	done
	command curl --fail-with-body "$@" || return # the caller's line fails, and the trap names it
}`, "")
	ran := 0
	for _, b := range blocks {
		text := prepare(t, b, a)
		if text == "" {
			continue
		}
		for _, tool := range tools.FindAllString(text, -1) {
			testenv.Need(t, tool)
		}
		emit(fmt.Sprintf("echo '### %s:%d' >&2", b.file, b.line), "")
		for i, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			emit(l, fmt.Sprintf("%s:%d: %s", b.file, b.line+i, strings.Split(b.text, "\n")[i]))
		}
		ran++
	}
	if ran == 0 {
		t.Skip("no block to run")
	}

	srv := startFerry(t, bin, work, env, a)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "-c", script.String())
	cmd.Dir = work
	cmd.Env = env
	cmd.Stdin = nil // /dev/null: nothing prompts
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if srv.exited() {
		t.Fatalf("ferry exited while the examples ran:\n%s\nexamples' output:\n%s", srv.tail(), tail(out.String(), 40))
	}
	if err != nil {
		where := "?"
		if m := failedAt.FindStringSubmatch(out.String()); m != nil {
			n, _ := strconv.Atoi(m[2])
			where = origin[n]
		}
		t.Fatalf("an example failed (%v) at\n  %s\noutput:\n%s\nferry's log:\n%s", err, where, tail(out.String(), 60), srv.tail())
	}
	t.Logf("%d blocks ran", ran)
	if testing.Verbose() {
		t.Logf("output:\n%s", out.String())
	}
}

type server struct{ proc *testenv.Proc }

func (s *server) exited() bool { return s.proc.Exited() }

func (s *server) tail() string { return s.proc.Tail() }

// startFerry runs "ferry serve" in work and waits until every listener
// answers; a process that exits first fails the test at once.
func startFerry(t *testing.T, bin, work string, env []string, a addrs) *server {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = work
	cmd.Env = env
	s := &server{proc: testenv.Start(t, "ferry", cmd)}
	t.Cleanup(func() { _ = s.proc.Stop(syscall.SIGTERM, 10*time.Second) })
	s.proc.WaitReady(30*time.Second, func() error {
		for _, addr := range []string{a.ftp, a.smtp, a.imap, a.pop3} {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return err
			}
			c.Close()
		}
		resp, err := http.Get("http://" + a.http + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
	return s
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
