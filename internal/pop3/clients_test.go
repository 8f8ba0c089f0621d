package pop3

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
)

// These tests drive the server with real POP3 clients: Python's poplib
// and curl. Outside CI they are skipped (and counted in the run's summary
// line) when the program is not installed; under CI they fail.

func lookPath(t *testing.T, name string) string {
	t.Helper()
	return testenv.Need(t, name)
}

func runClient(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "NO_PROXY=*", "no_proxy=*")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %q: %v\nstdout:\n%s\nstderr:\n%s", name, args, err, out, stderr.String())
	}
	return string(out)
}

const poplibScript = `
import json, poplib, ssl, sys

host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = {}
p = poplib.POP3(host, port, timeout=20)
out["welcome"] = p.getwelcome().decode()
if mode == "stls":
    out["capa_before"] = sorted(p.capa().keys())
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    p.stls(context=ctx)
    out["capa_after"] = sorted(p.capa().keys())
p.user("alice")
p.pass_("secret")
out["stat"] = list(p.stat())
resp, lines, octets = p.list()
out["list"] = [l.decode() for l in lines]
resp, lines, octets = p.uidl()
out["uidl"] = [l.decode() for l in lines]
out["uidl1"] = p.uidl(1).decode()
resp, lines, octets = p.retr(2)
out["retr2"] = [l.decode() for l in lines]
resp, lines, octets = p.top(3, 1)
out["top3"] = [l.decode() for l in lines]
out["dele"] = p.dele(1).decode()
out["rset"] = p.rset().decode()
out["dele3"] = p.dele(3).decode()
out["noop"] = p.noop().decode()
out["quit"] = p.quit().decode()
print(json.dumps(out))
`

type poplibResult struct {
	Welcome    string   `json:"welcome"`
	CapaBefore []string `json:"capa_before"`
	CapaAfter  []string `json:"capa_after"`
	Stat       []int    `json:"stat"`
	List       []string `json:"list"`
	UIDL       []string `json:"uidl"`
	UIDL1      string   `json:"uidl1"`
	Retr2      []string `json:"retr2"`
	Top3       []string `json:"top3"`
	Dele       string   `json:"dele"`
	Rset       string   `json:"rset"`
	Dele3      string   `json:"dele3"`
	Noop       string   `json:"noop"`
	Quit       string   `json:"quit"`
}

func TestPythonPoplib(t *testing.T) {
	t.Parallel()
	python := lookPath(t, "python3")
	script := filepath.Join(t.TempDir(), "poplib_client.py")
	if err := os.WriteFile(script, []byte(poplibScript), 0o600); err != nil {
		t.Fatal(err)
	}
	serverTLS, _ := testCert(t)
	for _, mode := range []string{"plain", "stls"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, func(s *Server) { s.TLSConfig = serverTLS })
			host, port, _ := strings.Cut(ts.addr, ":")
			out := runClient(t, python, script, host, port, mode)
			var got poplibResult
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("decoding %q: %v", out, err)
			}
			want := poplibResult{
				Welcome: "+OK ferry test POP3 ready",
				Stat:    []int{3, total},
				List:    []string{"1 " + itoa(size1), "2 " + itoa(size2), "3 " + itoa(size3)},
				UIDL:    []string{"1 uid-1", "2 uid-2", "3 uid-3"},
				UIDL1:   "+OK 1 uid-1",
				// poplib undoes the dot-stuffing.
				Retr2: []string{"Subject: dots", "", ".leading dot", "..two dots", ".", "middle . dot", "no newline at end"},
				Top3:  []string{"Subject: three", "X-H: y", "", "line1"},
				Dele:  "+OK message 1 deleted",
				Rset:  "+OK maildrop has 3 messages (" + itoa(total) + " octets)",
				Dele3: "+OK message 3 deleted",
				Noop:  "+OK",
				Quit:  "+OK bye (1 message deleted)",
			}
			if mode == "stls" {
				want.CapaBefore = []string{"AUTH-RESP-CODE", "IMPLEMENTATION", "PIPELINING", "RESP-CODES", "STLS", "TOP", "UIDL", "USER"}
				want.CapaAfter = []string{"AUTH-RESP-CODE", "IMPLEMENTATION", "PIPELINING", "RESP-CODES", "TOP", "UIDL", "USER"}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("poplib results:\n got %+v\nwant %+v", got, want)
			}
			box := ts.backend.box("alice")
			ts.backend.with(func() {
				if len(box.commits) != 1 || !slices.Equal(box.commits[0], []int{2}) {
					t.Errorf("commits = %v, want [[2]]", box.commits)
				}
				if box.lastTLS != (mode == "stls") {
					t.Errorf("ConnInfo.TLS = %v", box.lastTLS)
				}
			})
		})
	}
}

func TestCurl(t *testing.T) {
	t.Parallel()
	curl := lookPath(t, "curl")
	serverTLS, _ := testCert(t)
	ts := startServer(t, func(s *Server) { s.TLSConfig = serverTLS })
	base := "pop3://" + ts.addr + "/"
	common := []string{"-s", "-S", "--max-time", "30", "-u", "alice:secret"}

	wantList := "1 " + itoa(size1) + "\r\n2 " + itoa(size2) + "\r\n3 " + itoa(size3) + "\r\n"
	if got := runClient(t, curl, append(common, base)...); got != wantList {
		t.Errorf("curl list = %q, want %q", got, wantList)
	}
	// curl undoes the dot-stuffing; the bare LFs arrive as CRLF.
	wantRetr := strings.ReplaceAll(strings.ReplaceAll(msg2, "\r\n", "\n"), "\n", "\r\n") + "\r\n"
	if got := runClient(t, curl, append(common, base+"2")...); got != wantRetr {
		t.Errorf("curl retr 2 = %q, want %q", got, wantRetr)
	}
	if got := runClient(t, curl, append(common, base+"1")...); got != msg1 {
		t.Errorf("curl retr 1 = %q, want %q", got, msg1)
	}
	// STLS, required by the client (certificate verification disabled).
	if got := runClient(t, curl, append(common, "--ssl-reqd", "-k", base)...); got != wantList {
		t.Errorf("curl list over STLS = %q, want %q", got, wantList)
	}
	box := ts.backend.box("alice")
	ts.backend.with(func() {
		if !box.lastTLS {
			t.Error("curl --ssl-reqd login was not over TLS")
		}
	})
	// DELE through a custom request, committed on QUIT.
	runClient(t, curl, append(common, "-X", "DELE 3", "-I", base)...)
	waitFor(t, ts.backend, "curl session end", func() bool { return box.closes == 5 })
	ts.backend.with(func() {
		if box.logins != 5 {
			t.Errorf("logins = %d, want 5", box.logins)
		}
		if n := len(box.messages); n != 2 {
			t.Errorf("%d messages left after curl DELE, want 2", n)
		}
	})
}
