package pop3

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

func FuzzParseCommand(f *testing.F) {
	for _, seed := range []string{
		"USER alice", "PASS secret", "PASS two  words ", "PASS", "PASS ", "list 1",
		"TOP 1 10", "  STAT  ", "", " ", "\x00", "RETR\t1", "uidl", "é", "x y z",
		strings.Repeat("A", 300),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		cmd, args, err := parseCommand(line)
		if err != nil {
			if cmd != "" || args != nil {
				t.Fatalf("error %v with results %q %q", err, cmd, args)
			}
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not an *Error", err)
			}
			return
		}
		if cmd == "" || strings.ContainsAny(cmd, " \r\n") {
			t.Fatalf("bad keyword %q", cmd)
		}
		for _, b := range []byte(cmd) {
			if 'a' <= b && b <= 'z' {
				t.Fatalf("keyword %q not upper-cased", cmd)
			}
		}
		fields := strings.FieldsFunc(string(line), func(r rune) bool { return r == ' ' })
		if !strings.EqualFold(cmd, fields[0]) {
			t.Fatalf("keyword %q does not match line %q", cmd, line)
		}
		for _, a := range args {
			for _, b := range []byte(a) {
				if b < 0x20 || b == 0x7f {
					t.Fatalf("control character in argument %q", a)
				}
			}
			if a == "" {
				t.Fatalf("empty argument in %q", args)
			}
		}
		if cmd == "PASS" {
			if len(args) > 1 {
				t.Fatalf("PASS with %d arguments", len(args))
			}
			if len(args) == 1 && !bytes.HasSuffix(line, []byte(" "+args[0])) {
				t.Fatalf("PASS argument %q is not the rest of %q", args[0], line)
			}
			return
		}
		for _, a := range args {
			if strings.Contains(a, " ") {
				t.Fatalf("space in argument %q", a)
			}
		}
		if got, want := strings.Join(append([]string{cmd}, args...), " "), strings.Join(fields, " "); !strings.EqualFold(got, want) {
			t.Fatalf("parse(%q) = %q, want %q", line, got, want)
		}
	})
}

// refMessage is a straightforward, in-memory version of writeMessage.
func refMessage(msg string, bodyLines int) string {
	pieces := strings.Split(msg, "\n")
	if pieces[len(pieces)-1] == "" {
		pieces = pieces[:len(pieces)-1]
	}
	var sb strings.Builder
	inHeader, body := true, 0
	for _, l := range pieces {
		if bodyLines >= 0 && !inHeader && body >= bodyLines {
			break
		}
		l = strings.TrimSuffix(l, "\r")
		if strings.HasPrefix(l, ".") {
			sb.WriteByte('.')
		}
		sb.WriteString(l + "\r\n")
		if inHeader {
			inHeader = l != ""
		} else {
			body++
		}
	}
	return sb.String() + ".\r\n"
}

func checkWriteMessage(t *testing.T, msg string, bodyLines, bufSize int) {
	t.Helper()
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	rerr, werr := writeMessage(w, bufio.NewReaderSize(strings.NewReader(msg), bufSize), int64(bodyLines))
	if rerr != nil || werr != nil {
		t.Fatalf("writeMessage: %v, %v", rerr, werr)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := refMessage(msg, bodyLines); out.String() != want {
		t.Fatalf("writeMessage(%q, %d, buf %d) =\n%q\nwant\n%q", msg, bodyLines, bufSize, out.String(), want)
	}
}

func TestWriteMessage(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 40)
	for _, msg := range []string{
		"", "\n", "\r\n", "\r", ".", ".\r\n", "..", "a", "a\r", "a\rb\n", "a\r\r\n",
		msg1, msg2, msg3,
		"H: 1\n\n" + long + "\r\n." + long + "\n" + long + "\r\r\n.\n",
		"H: " + long + "\r\n\r\n" + "b1\nb2\nb3",
		strings.Repeat("a", 15) + "\r\n" + strings.Repeat(".", 31) + "\r\n\r\n",
		"no header end\nat all\n",
	} {
		for _, n := range []int{-1, 0, 1, 2, 100} {
			for _, size := range []int{16, 17, 31, 4096} {
				checkWriteMessage(t, msg, n, size)
			}
		}
	}
}

func FuzzWriteMessage(f *testing.F) {
	f.Add([]byte(msg2), int16(-1), uint8(0))
	f.Add([]byte(msg3), int16(1), uint8(3))
	f.Add([]byte("a\r\r\n\r\n.x\r"), int16(0), uint8(0))
	f.Fuzz(func(t *testing.T, msg []byte, bodyLines int16, extra uint8) {
		n := int(bodyLines)
		if n < -1 {
			n = -1
		}
		checkWriteMessage(t, string(msg), n, 16+int(extra%64))
	})
}

// maxSessionInput bounds the inputs FuzzSession runs. The fuzzer minimizes
// every new interesting input before it goes on, and its minimizer tries
// removing every span of bytes: len(input)^2/2 runs. An input of a few KiB
// took longer than the minimizer's 60 s budget, and the whole fuzzer showed
// 0 execs/s meanwhile. Lines longer than the harness's MaxLineLength still
// fit many times over.
const maxSessionInput = 256

// FuzzSession feeds arbitrary client input to a server connection and
// checks that the server neither panics nor leaks the maildrop lock.
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"USER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL 2\r\nRETR 2\r\nTOP 3 1\r\nDELE 1\r\nRSET\r\nDELE 2\r\nQUIT\r\n",
		"CAPA\r\nSTLS\r\nAPOP x y\r\nUSER alice\r\nPASS bad\r\nUSER alice\r\nPASS secret\r\nLIST 0\r\nTOP 1 x\r\n",
		"user alice\npass secret\nretr 1\ndele 3\nquit\n",
		strings.Repeat("X", 100) + "\r\nNOOP\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		if len(input) > maxSessionInput {
			return
		}
		logs := &syncBuffer{}
		b := newMemBackend()
		srv := &Server{
			Backend: b,
			// The client's input is all written before the server's
			// replies matter, and then the client closes: nothing
			// should ever wait for a timeout; if it does, briefly.
			ReadTimeout:   time.Second,
			WriteTimeout:  time.Second,
			MaxLineLength: 64,
			ErrorLog:      slog.New(slog.NewTextHandler(logs, nil)),
		}
		client, server := net.Pipe()
		if !srv.serveConn(server) {
			t.Fatal("serveConn refused")
		}
		drained := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, client)
			close(drained)
		}()
		_, _ = client.Write(input)
		_, _ = client.Write([]byte("\r\nQUIT\r\n"))
		_ = client.Close()
		<-drained
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(logs.String(), "panic") {
			t.Fatalf("server panicked:\n%s", logs.String())
		}
		b.with(func() {
			for name, box := range b.boxes {
				if box.locked || box.closes != box.logins {
					t.Fatalf("%s: locked = %v, logins = %d, closes = %d", name, box.locked, box.logins, box.closes)
				}
				if len(box.commits) > box.locks {
					t.Fatalf("%s: %d commits for %d locks", name, len(box.commits), box.locks)
				}
			}
		})
	})
}
