package imap_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/mailbox/imap"
	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/store/storetest"
)

type env struct {
	*mailtest.Env
	addr, port string
	srv        *imap.Server // the last one serve started
}

func start(t testing.TB, b storetest.Backend) *env {
	t.Helper()
	e := &env{Env: mailtest.New(t, b)}
	e.serve(t, e.Mail)
	return e
}

// serve starts an IMAP server on st (a second Store on the same database
// and folder is another Ferry node).
func (e *env) serve(t testing.TB, st *mailbox.Store) {
	t.Helper()
	srv := &imap.Server{Store: st, Logins: e.Logins, Guard: e.Guard, TLSConfig: e.TLS, IdlePoll: 50 * time.Millisecond}
	e.srv = srv
	e.addr = testenv.Serve(t, srv, imap.ErrServerClosed)
	_, e.port, _ = net.SplitHostPort(e.addr)
}

func (e *env) deliver(t testing.TB, st *mailbox.Store, subject, body string) []byte {
	t.Helper()
	raw := mailtest.Message(subject, body)
	if _, err := st.Deliver(context.Background(), "acme", raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

const imaplibPrelude = `
import imaplib, json, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
M = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
M.starttls(ssl_context=ctx)
M.login("alice", sys.argv[2])
out = {}
def s(v):
    if isinstance(v, bytes): return v.decode("utf-8", "replace")
    if isinstance(v, (list, tuple)): return [s(x) for x in v]
    return v
`

func (e *env) imaplib(t *testing.T, body string) map[string]any {
	t.Helper()
	testenv.Need(t, "python3")
	raw := mailtest.Python(t, imaplibPrelude+body+"\nprint(json.dumps(out))\n", e.port, mailtest.Password)
	var out map[string]any
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("imaplib output %q: %v", raw, err)
	}
	return out
}

func TestImaplibFolders(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, b)
			out := e.imaplib(t, `
out["create"] = s(M.create("Projects/2024/Q1"))
out["dup"] = s(M.create("Projects"))
out["list1"] = s(M.list()[1])
out["rename"] = s(M.rename("Projects", "Archive/Projects"))
out["delparent"] = s(M.delete("Archive/Projects"))
out["delleaf"] = s(M.delete("Archive/Projects/2024/Q1"))
out["unsub"] = s(M.unsubscribe("Archive"))
out["lsub"] = s(M.lsub()[1])
out["list2"] = s(M.list('""', "Archive/*")[1])
out["status"] = s(M.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)"))
`)
			want := map[string]string{
				"create":    `["OK"`,
				"dup":       `["NO"`,
				"list1":     `(\\HasChildren \\Subscribed) \"/\" \"Projects\"`,
				"rename":    `["OK"`,
				"delparent": `HASCHILDREN`,
				"delleaf":   `["OK"`,
				"list2":     `\"/\" \"Archive/Projects/2024\"`,
				"status":    `INBOX (MESSAGES 0 UIDNEXT 1 UIDVALIDITY`,
			}
			for k, w := range want {
				got, _ := json.Marshal(out[k])
				if !strings.Contains(string(got), w) {
					t.Errorf("%s: %s does not contain %s", k, got, w)
				}
			}
			lsub, _ := json.Marshal(out["lsub"])
			if strings.Contains(string(lsub), `\"/\" \"Archive\"`) || !strings.Contains(string(lsub), "INBOX") {
				t.Errorf("LSUB after UNSUBSCRIBE Archive: %s", lsub)
			}
			list2, _ := json.Marshal(out["list2"])
			if strings.Contains(string(list2), "Q1") || strings.Contains(string(list2), `\"/\" \"Projects`) {
				t.Errorf("LIST Archive/*: %s", list2)
			}
		})
	}
}

func TestImaplibMessages(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, b)
			first := e.deliver(t, e.Mail, "first", "nothing to see")
			second := e.deliver(t, e.Mail, "second", "the magic token is Xylophone42 here\r\n"+strings.Repeat("filler line\r\n", 20))
			e.deliver(t, e.Mail, "third", "plain")
			out := e.imaplib(t, `
M.create("Archive")
typ, d = M.select("INBOX")
out["exists"] = s(d)
out["uidvalidity"] = s(M.response("UIDVALIDITY")[1])
typ, d = M.fetch("1", "(BODY.PEEK[HEADER])")
out["header"] = s(d[0][1])
out["flags_after_peek"] = s(M.fetch("1", "(FLAGS)")[1])
typ, d = M.fetch("2", "(BODY[]<0.100>)")
out["partial"] = s(d[0][1])
out["partial_item"] = s(d[0][0])
out["flags_after_body"] = s(M.fetch("2", "(FLAGS)")[1])
out["bodystructure"] = s(M.fetch("3", "(BODYSTRUCTURE)")[1])
out["envelope"] = s(M.fetch("1", "(ENVELOPE RFC822.SIZE INTERNALDATE)")[1])
out["search_text"] = s(M.search(None, "TEXT", "xylophone42")[1])
out["search_body"] = s(M.search(None, "BODY", '"magic token"')[1])
out["search_subject"] = s(M.search(None, "SUBJECT", "third")[1])
out["search_unseen"] = s(M.search(None, "UNSEEN")[1])
out["uid_search"] = s(M.uid("SEARCH", None, "TEXT", "Xylophone42")[1])
out["uid_fetch"] = s(M.uid("FETCH", "3", "(UID FLAGS)")[1])
out["store"] = s(M.store("1", "+FLAGS", "(\\Flagged)")[1])
out["copy"] = s(M.copy("1:2", "Archive"))
out["move"] = s(M.uid("MOVE", "3", "Archive"))
out["after_move"] = s(M.search(None, "ALL")[1])
M.store("1", "+FLAGS", "(\\Deleted)")
out["expunge"] = s(M.expunge())
out["after_expunge"] = s(M.search(None, "ALL")[1])
out["append"] = s(M.append("Archive", "(\\Seen)", None, b"Subject: appended\r\n\r\nby imaplib\r\n"))
out["append_missing"] = s(M.append("Nope", None, None, b"Subject: x\r\n\r\ny\r\n"))
out["archive"] = s(M.status("Archive", "(MESSAGES UNSEEN)"))
M.select("Archive", readonly=True)
out["ro_store"] = s(M.store("1", "+FLAGS", "(\\Deleted)"))
out["ro_fetch"] = s(M.fetch("1", "(BODY[TEXT])")[1])
out["ro_flags"] = s(M.fetch("1", "(FLAGS)")[1])
M.logout()
`)
			str := func(k string) string { b, _ := json.Marshal(out[k]); return string(b) }
			hdr, _ := out["header"].(string)
			if want := string(first[:strings.Index(string(first), "\r\n\r\n")+4]); hdr != want {
				t.Errorf("BODY.PEEK[HEADER] = %q, want %q", hdr, want)
			}
			if strings.Contains(str("flags_after_peek"), `\\Seen`) {
				t.Errorf("header-only fetch set \\Seen: %s", str("flags_after_peek"))
			}
			if p, _ := out["partial"].(string); p != string(second[:100]) {
				t.Errorf("BODY[]<0.100> = %q (%d octets), want the first 100 octets", p, len(p))
			}
			if p, _ := out["partial_item"].(string); !strings.Contains(p, "BODY[]<0> {100}") {
				t.Errorf("partial item %s", str("partial_item"))
			}
			if strings.Contains(str("ro_flags"), "Seen") {
				t.Errorf("a fetch in an EXAMINEd folder set \\Seen: %s", str("ro_flags"))
			}
			if !strings.Contains(str("flags_after_body"), `\\Seen`) {
				t.Errorf("BODY[] did not set \\Seen: %s", str("flags_after_body"))
			}
			checks := map[string]string{
				"exists":         `["3"]`,
				"bodystructure":  `BODYSTRUCTURE (\"text\" \"plain\"`,
				"envelope":       `\"first\" ((\"Sender\" NIL \"sender\" \"example.org\"))`,
				"search_text":    `["2"]`,
				"search_body":    `["2"]`,
				"search_subject": `["3"]`,
				"search_unseen":  `["1 3"]`,
				"uid_search":     `["2"]`,
				"uid_fetch":      `UID 3 FLAGS ()`,
				"store":          `FLAGS (\\Flagged)`,
				"copy":           `["OK"`,
				"move":           `["OK"`,
				"after_move":     `["1 2"]`,
				"expunge":        `"1"]]`, // imaplib also returns the EXPUNGE of the MOVE
				"after_expunge":  `["1"]`,
				"append":         `APPENDUID`,
				"append_missing": `TRYCREATE`,
				"archive":        `(MESSAGES 4 UNSEEN 2)`,
				"ro_store":       `["NO"`,
			}
			for k, w := range checks {
				if !strings.Contains(str(k), w) {
					t.Errorf("%s: %s does not contain %s", k, str(k), w)
				}
			}
		})
	}
}

func TestCurlIMAP(t *testing.T) {
	testenv.Need(t, "curl")
	e := start(t, storetest.Backend{})
	raw := e.deliver(t, e.Mail, "via curl", "hello curl")
	base := "imap://127.0.0.1:" + e.port + "/"
	args := []string{"-sS", "--ssl-reqd", "-k", "--user", "alice:" + mailtest.Password}
	if out := mailtest.Run(t, "curl", append(args, base)...); !strings.Contains(out, `"/" INBOX`) {
		t.Fatalf("curl LIST: %q", out)
	}
	if got := mailtest.Run(t, "curl", append(args, base+"INBOX;UID=1")...); got != string(raw) {
		t.Fatalf("curl fetch:\n%q\nwant\n%q", got, raw)
	}
	if out := mailtest.Run(t, "curl", append(args, "-X", "SEARCH TEXT curl", base+"INBOX")...); !strings.Contains(out, "SEARCH 1") {
		t.Fatalf("curl SEARCH: %q", out)
	}
	if out, err := mailtest.RunErr(t, "curl", "-sS", "--user", "alice:"+mailtest.Password, base); err == nil {
		t.Fatalf("login without TLS accepted: %s", out)
	}
}

// conn is a raw IMAP client for what no client program does well.
type conn struct {
	t   testing.TB
	c   net.Conn
	br  *bufio.Reader
	tag int
}

func (e *env) dial(t testing.TB) *conn {
	t.Helper()
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &conn{t: t, c: nc, br: bufio.NewReader(nc)}
	c.line()
	return c
}

func (c *conn) line() string {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (after %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// cmd sends a tagged command and returns the untagged lines and the
// tagged reply.
func (c *conn) cmd(format string, args ...any) (untagged []string, done string) {
	c.t.Helper()
	c.tag++
	tag := fmt.Sprintf("t%d", c.tag)
	fmt.Fprintf(c.c, tag+" "+format+"\r\n", args...)
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

func (c *conn) login(user string) {
	c.t.Helper()
	if _, done := c.cmd("STARTTLS"); !strings.HasPrefix(done, "OK") {
		c.t.Fatal(done)
	}
	tc := tls.Client(c.c, &tls.Config{InsecureSkipVerify: true})
	c.c, c.br = tc, bufio.NewReader(tc)
	if _, done := c.cmd("LOGIN %s %q", user, mailtest.Password); !strings.HasPrefix(done, "OK") {
		c.t.Fatalf("login %s: %s", user, done)
	}
}

func has(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// Two nodes share the database: a session on one sees, in IDLE and on
// NOOP, what the other node and a second session do.
func TestIdleAndConcurrentSessionsAcrossNodes(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, b)
			e.deliver(t, e.Mail, "one", "x")
			e.deliver(t, e.Mail, "two", "x")
			other := &mailbox.Store{DB: e.DB, Dir: e.Mail.Dir} // another node

			a, c2 := e.dial(t), e.dial(t)
			a.login("alice")
			c2.login("alice")
			if u, _ := a.cmd("SELECT INBOX"); !has(u, "* 2 EXISTS") {
				t.Fatalf("select: %q", u)
			}
			c2.cmd("SELECT INBOX")

			fmt.Fprintf(a.c, "idle1 IDLE\r\n")
			if l := a.line(); !strings.HasPrefix(l, "+") {
				t.Fatalf("IDLE: %q", l)
			}
			e.deliver(t, other, "three", "from the other node")
			if l := a.line(); l != "* 3 EXISTS" {
				t.Fatalf("IDLE update: %q", l)
			}
			// Session 2 flags and expunges message 1; session 1 (idling) is told.
			c2.cmd(`STORE 1 +FLAGS (\Deleted)`)
			if l := a.line(); !strings.Contains(l, `FETCH (UID 1 FLAGS (\Deleted))`) {
				t.Fatalf("IDLE flag update: %q", l)
			}
			if u, done := c2.cmd("EXPUNGE"); !has(u, "* 1 EXPUNGE") || !strings.HasPrefix(done, "OK") {
				t.Fatalf("expunge: %q %s", u, done)
			}
			if l := a.line(); l != "* 1 EXPUNGE" {
				t.Fatalf("IDLE expunge: %q", l)
			}
			fmt.Fprintf(a.c, "DONE\r\n")
			if l := a.line(); !strings.HasPrefix(l, "idle1 OK") {
				t.Fatalf("DONE: %q", l)
			}
			if u, _ := a.cmd("UID FETCH 1:* (UID)"); len(u) != 2 || !has(u, "UID 2") || !has(u, "UID 3") {
				t.Fatalf("after expunge: %q", u)
			}
		})
	}
}

// UIDs and UIDVALIDITY do not change when Ferry restarts.
func TestUIDsStableAcrossRestart(t *testing.T) {
	e := start(t, storetest.Backend{})
	e.deliver(t, e.Mail, "a", "x")
	e.deliver(t, e.Mail, "b", "x")
	c := e.dial(t)
	c.login("alice")
	u1, _ := c.cmd("SELECT INBOX")
	f1, _ := c.cmd("UID FETCH 1:* (UID)")
	// A new server process: new Store, same database and blob folder.
	e.serve(t, &mailbox.Store{DB: e.DB, Dir: e.Mail.Dir})
	c = e.dial(t)
	c.login("alice")
	u2, _ := c.cmd("SELECT INBOX")
	f2, _ := c.cmd("UID FETCH 1:* (UID)")
	if strings.Join(u1, "\n") != strings.Join(u2, "\n") || strings.Join(f1, "\n") != strings.Join(f2, "\n") {
		t.Fatalf("before restart %q %q\nafter %q %q", u1, f1, u2, f2)
	}
}

func TestRefusalsAndGarbage(t *testing.T) {
	e := start(t, storetest.Backend{})
	c := e.dial(t)
	if u, _ := c.cmd("CAPABILITY"); !has(u, "LOGINDISABLED") || !has(u, "STARTTLS") {
		t.Fatalf("capabilities before TLS: %q", u)
	}
	if _, done := c.cmd("LOGIN alice %q", mailtest.Password); !strings.HasPrefix(done, "NO") && !strings.HasPrefix(done, "BAD") {
		t.Fatalf("LOGIN without TLS: %s", done)
	}
	if _, done := c.cmd("FETCH 1 BODY[]"); !strings.HasPrefix(done, "BAD") && !strings.HasPrefix(done, "NO") {
		t.Fatalf("FETCH before login: %s", done)
	}
	c.login("alice")
	if _, done := c.cmd("SELECT"); !strings.HasPrefix(done, "BAD") {
		t.Fatalf("SELECT without name: %s", done)
	}
	if _, done := c.cmd("XYZZY \xff\xfe"); !strings.HasPrefix(done, "BAD") {
		t.Fatalf("unknown command: %s", done)
	}
	if _, done := c.cmd("NOOP"); !strings.HasPrefix(done, "OK") {
		t.Fatalf("after an unknown command: %s", done)
	}
	// A line longer than the server accepts ends with BAD or BYE, not a hang.
	fmt.Fprintf(c.c, "t99 NOOP %s\r\n", strings.Repeat("x", 100<<10))
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.br.ReadString('\n')
	if !strings.Contains(l, "BAD") && !strings.Contains(l, "BYE") && err == nil {
		t.Fatalf("oversized line: %q", l)
	}
	// A line without a tag and command name: imapserver (beta.8) closes the
	// connection without a reply; it must do so at once.
	g := e.dial(t)
	fmt.Fprintf(g.c, "\x01\x02 \xff\r\n")
	g.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l, err := g.br.ReadString('\n'); err == nil && !strings.Contains(l, "BAD") && !strings.Contains(l, "BYE") {
		t.Fatalf("garbage line: %q", l)
	}

	d := e.dial(t)
	if _, done := d.cmd("STARTTLS"); !strings.HasPrefix(done, "OK") {
		t.Fatal(done)
	}
	tc := tls.Client(d.c, &tls.Config{InsecureSkipVerify: true})
	d.c, d.br = tc, bufio.NewReader(tc)
	for _, user := range []string{"dana", "bob@nowhere"} {
		if _, done := d.cmd("LOGIN %s %q", user, mailtest.Password); !strings.Contains(done, "AUTHENTICATIONFAILED") {
			t.Fatalf("%s: %s", user, done)
		}
	}
	if f := e.Guard.FailureList(); len(f) != 2 || f[0] != "imap dana" {
		t.Fatalf("failures: %v", f)
	}
	e.Guard.Ban("127.0.0.1")
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if l, _ := bufio.NewReader(nc).ReadString('\n'); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("banned: %q", l)
	}
}
