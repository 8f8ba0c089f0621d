package ftpd

import (
	"strings"
	"testing"
)

// The reply stream counts final replies (1xx are preliminary; a multi-line
// reply counts once) whatever the engine's writes split, and passes every
// byte on but the barrier's NOOP reply.
func TestReplyStreamCounts(t *testing.T) {
	stream := "220 greeting\r\n150 opening\r\n226 done\r\n211-Features:\r\n SIZE\r\n211-not the end\r\n211 End\r\n" +
		"213-Status of f:\r\n" + strings.Repeat(" -rw-r--r-- 1 ftp ftp 3 Jan 1 00:00 f\r\n", 200) + "213 End\r\n" +
		"500 unknown\r\n"
	const finals = 5
	for _, chunk := range []int{1, 3, 7, 64, 4096, len(stream)} {
		var r replyStream
		var out strings.Builder
		for i := 0; i < len(stream); i += chunk {
			out.Write(r.feed([]byte(stream[i:min(i+chunk, len(stream))]), nil))
		}
		if r.finals != finals || r.multi != 0 {
			t.Errorf("writes of %d bytes: %d finals (multi %d), want %d", chunk, r.finals, r.multi, finals)
		}
		if out.String() != stream {
			t.Errorf("writes of %d bytes: the client got %q", chunk, out.String())
		}
	}

	// The barrier's 200 is dropped and settles the count, even when a
	// command (a transfer aborted before it opened) got no reply.
	r := replyStream{forwarded: 3, finals: 1, barrier: true}
	if got := string(r.feed([]byte("226 Closing\r\n"), nil)); got != "226 Closing\r\n" {
		t.Errorf("transfer reply during the barrier: %q", got)
	}
	if got := string(r.feed([]byte("200 OK\r\n"), nil)); got != "" || !r.balanced() || r.barrier {
		t.Errorf("barrier reply: %q passed on; balanced %v, barrier %v", got, r.balanced(), r.barrier)
	}
	if got := string(r.feed([]byte("200 OK\r\n"), nil)); got != "200 OK\r\n" {
		t.Errorf("a 200 after the barrier: %q", got)
	}
}

// FEAT's hash line is rewritten to the draft's HASH form, also when the
// engine's line arrives in pieces; STAT gets the session's lines.
func TestReplyStreamRewrites(t *testing.T) {
	feat := "211- These are my features\r\n UTF8\r\n CRC32;MD5;SHA-1;SHA-256*;SHA-512;\r\n XCRC\r\n211 end\r\n"
	want := "211- These are my features\r\n UTF8\r\n HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32\r\n XCRC\r\n211 end\r\n"
	for _, chunk := range []int{1, 5, len(feat)} {
		r := replyStream{feat: true}
		var out strings.Builder
		for i := 0; i < len(feat); i += chunk {
			out.Write(r.feed([]byte(feat[i:min(i+chunk, len(feat))]), nil))
		}
		if out.String() != want || r.finals != 1 {
			t.Errorf("FEAT in writes of %d: %q (%d finals)", chunk, out.String(), r.finals)
		}
	}
	r := replyStream{}
	if got := string(r.feed([]byte(feat), nil)); got != feat {
		t.Errorf("a FEAT reply the layer did not ask for was rewritten: %q", got)
	}
	st := newReprState(0)
	r = replyStream{stat: true}
	got := string(r.feed([]byte("211-Server status\r\nLogged in as a\r\n211 End\r\n"), st.statLines))
	if want := "211-Server status\r\nLogged in as a\r\nTYPE: ASCII Non-print; STRUcture: File; MODE: Stream\r\n" +
		"Control connection: clear; data connections: clear\r\n211 End\r\n"; got != want {
		t.Errorf("STAT: %q", got)
	}
}

// Whatever the engine writes, however its writes are split, the client
// gets exactly those bytes (no rewrite was asked for) and the count of
// final replies does not depend on the split.
func FuzzReplyStream(f *testing.F) {
	f.Add([]byte("220 hi\r\n150 go\r\n226 done\r\n211-a\r\n 211 x\r\n211 end\r\n"), uint8(3))
	f.Add([]byte("213-x\r\n213-y\r\n213 z\r\n500 \r\n200\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		if len(stream) > 4096 {
			return
		}
		var whole replyStream
		if got := whole.feed(stream, nil); len(stream) > 0 && stream[len(stream)-1] == '\n' && string(got) != string(stream) {
			t.Fatalf("one write: %q became %q", stream, got)
		}
		var split replyStream
		var out []byte
		step := int(chunk%64) + 1
		for i := 0; i < len(stream); i += step {
			out = append(out, split.feed(stream[i:min(i+step, len(stream))], nil)...)
		}
		if i := strings.LastIndexByte(string(stream), '\n') + 1; string(out) != string(stream[:i]) {
			t.Fatalf("writes of %d: %q became %q", step, stream[:i], out)
		}
		if split.finals != whole.finals || split.multi != whole.multi {
			t.Fatalf("writes of %d: %d finals (multi %d), one write: %d (multi %d)", step, split.finals, split.multi,
				whole.finals, whole.multi)
		}
	})
}

// PORT and EPRT arguments of any form parse or are left to the engine;
// nothing panics, and what parses round-trips.
func FuzzPortArguments(f *testing.F) {
	for _, s := range []string{"127,0,0,1,4,1", "|1|127.0.0.1|1025|", "|2|::1|2000|", "1,2,3", "||||", "|", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		if ap, ok := parsePORT(arg); ok && !ap.Addr().Is4() {
			t.Fatalf("PORT %q gave %v", arg, ap)
		}
		if ap, ok := parseEPRT(arg); ok && !ap.IsValid() {
			t.Fatalf("EPRT %q gave %v", arg, ap)
		}
		verb, rest := splitCommand([]byte(arg))
		if verb != "" && verbName([]byte(verb)) != verb {
			t.Fatalf("verb %q of %q", verb, arg)
		}
		_ = rest
	})
}
