package ftpd_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/partners"
)

// representationFiles are the files every representation round-trips:
// empty, one line without a final newline, lines, bytes 0xFF and runs (for
// MODE C) in more than one MODE B block.
func representationFiles() map[string][]byte {
	big := make([]byte, 0, 70000)
	for i := 0; len(big) < 70000; i++ {
		big = append(big, fmt.Sprintf("record %d \xff\xff tab\tend", i)...)
		big = append(big, bytes.Repeat([]byte{' '}, i%70)...)
		big = append(big, bytes.Repeat([]byte{0xff}, i%5)...)
		big = append(big, bytes.Repeat([]byte{'x'}, i%130)...)
		if i%7 != 0 {
			big = append(big, '\n')
		}
	}
	return map[string][]byte{
		"empty":     nil,
		"oneline":   []byte("one record without a final newline \xff"),
		"lines":     []byte("first\nsecond \xe9t\xe9\n\nfourth\n"),
		"big-bytes": big,
	}
}

// Every TYPE (A, E, I) x STRU (F, R) x MODE (S, B, C, Z) round-trips
// through the real server: the upload, encoded by the test's own RFC 959
// client, is stored in the file's native form, and the download decodes to
// it again; in MODE S and B the wire bytes are those uploaded.
func TestRepresentationRoundTrip(t *testing.T) {
	e := newEnv(t, envOpts{configure: func(s *ftpd.Server) { s.DeflateLevel = 6 }})
	c := e.raw(e.addr)
	c.login("alice")
	files := representationFiles()
	for _, typ := range []byte{'A', 'E', 'I'} {
		for _, stru := range []byte{'F', 'R'} {
			for _, mode := range []byte{'S', 'B', 'C', 'Z'} {
				r := rfcRep{typ: typ, stru: stru, mode: mode, page: charmap.CodePage1047}
				c.must(200, "TYPE %c", typ)
				c.must(200, "STRU %c", stru)
				c.must(200, "MODE %c", mode)
				for name, file := range files {
					remote := fmt.Sprintf("rt-%s-%s", r, name)
					wire := r.encode(file)
					c.stor(remote, wire)
					want := file
					if stru == 'R' && r.text() && len(file) > 0 && file[len(file)-1] != '\n' {
						want = append(bytes.Clone(file), '\n') // the last record ends with its line
					}
					stored, err := os.ReadFile(e.partnerFile("acme", remote))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(stored, want) {
						t.Errorf("%s %s: stored %d bytes, want %d (%q...)", r, name, len(stored), len(want), head(stored))
						continue
					}
					got := c.retr(remote)
					back, err := r.decode(got)
					if err != nil {
						t.Errorf("%s %s: download does not decode: %v", r, name, err)
						continue
					}
					if !bytes.Equal(back, want) {
						t.Errorf("%s %s: download decodes to %d bytes, want %d", r, name, len(back), len(want))
					}
					if (mode == 'S' || mode == 'B') && !bytes.Equal(got, r.encode(want)) {
						t.Errorf("%s %s: download's wire bytes differ from the RFC encoding", r, name)
					}
				}
			}
		}
	}
	c.must(200, "TYPE I")
	c.must(200, "STRU F")
	c.must(200, "MODE S")
	// Identity again: bytes as they are.
	if got := c.retr("rt-E-R-B-lines"); !bytes.Equal(got, files["lines"]) {
		t.Errorf("TYPE I download after converted ones: %q", got)
	}
}

func head(b []byte) []byte { return b[:min(len(b), 40)] }

// A MODE B upload cut before its EOF block, and MODE C and STRU R data
// that do not decode, fail with 426 / 451 and publish nothing; the session
// goes on. SIZE and REST are refused where the file's bytes are not what
// is sent, listings outside MODE S.
func TestRepresentationRefusals(t *testing.T) {
	e := newEnv(t, envOpts{configure: func(s *ftpd.Server) { s.DeflateLevel = 0 }})
	mustWrite(t, e.partnerFile("acme", "keep.txt"), []byte("kept\n"))
	c := e.raw(e.addr)
	c.login("alice")
	upload := func(name string, wire []byte) (int, string) {
		d := c.pasv()
		c.must(150, "STOR %s", name)
		if _, err := d.Write(wire); err != nil {
			t.Fatal(err)
		}
		d.Close()
		return c.read()
	}
	c.must(200, "TYPE I")
	c.must(200, "MODE B")
	if code, msg := upload("cut.bin", []byte{0, 0, 3, 'a', 'b', 'c'}); code != 426 || !strings.Contains(msg, "nothing was stored") {
		t.Errorf("MODE B upload without EOF: %d %s", code, msg)
	}
	if code, msg := upload("keep.txt", []byte{0, 0, 9, 'a'}); code != 426 {
		t.Errorf("MODE B short block: %d %s", code, msg)
	}
	c.must(200, "MODE C")
	if code, msg := upload("bad.bin", []byte{0x05, 'a', 0, 0x40}); code != 451 && code != 426 {
		t.Errorf("MODE C string longer than its data: %d %s", code, msg)
	}
	c.must(200, "MODE S")
	c.must(200, "STRU R")
	if code, msg := upload("bad.bin", []byte{'a', 0xff, 0x07, 0xff, 0x02}); code != 451 {
		t.Errorf("STRU R unknown escape: %d %s", code, msg)
	}
	for _, name := range []string{"cut.bin", "bad.bin"} {
		if _, err := os.Stat(e.partnerFile("acme", name)); !os.IsNotExist(err) {
			t.Errorf("%s published after a failed upload: %v", name, err)
		}
	}
	if b, _ := os.ReadFile(e.partnerFile("acme", "keep.txt")); string(b) != "kept\n" {
		t.Errorf("keep.txt replaced by a failed upload: %q", b)
	}
	c.must(550, "SIZE keep.txt")
	c.must(504, "REST 1")
	c.must(200, "STRU F")
	c.must(213, "SIZE keep.txt")
	c.must(200, "MODE C")
	c.must(213, "SIZE keep.txt") // the MODE's framing is not data (RFC 3659 4)
	c.must(504, "REST 1")
	c.must(200, "TYPE E")
	c.must(550, "SIZE keep.txt")
	c.must(200, "MODE S")
	c.must(504, "REST 1")
	c.must(200, "TYPE A")
	c.must(550, "SIZE keep.txt")
	c.must(504, "REST 1")
	if got := c.retr("keep.txt"); string(got) != "kept\r\n" {
		t.Errorf("TYPE A download: %q", got)
	}
	c.must(200, "TYPE I")
	c.must(350, "REST 1")
	if got := c.retr("keep.txt"); string(got) != "ept\n" {
		t.Errorf("TYPE I download from 1: %q", got)
	}
	if msg := c.must(200, "TYPE E"); !strings.Contains(msg, "IBM-1047") {
		t.Errorf("TYPE E reply: %q", msg)
	}
	if stat := c.must(211, "STAT"); !strings.Contains(stat, "TYPE: EBCDIC Non-print (IBM-1047); STRUcture: File; MODE: Stream") {
		t.Errorf("STAT: %q", stat)
	}
	if feat := c.must(211, "FEAT"); strings.Contains(feat, "MODE Z") {
		t.Errorf("FEAT lists MODE Z while it is off: %q", feat)
	}
	c.must(504, "MODE Z")
	c.must(221, "QUIT")
}

// With MODE Z on, FEAT lists it and OPTS MODE Z LEVEL sets the level.
func TestRepresentationModeZ(t *testing.T) {
	e := newEnv(t, envOpts{configure: func(s *ftpd.Server) { s.DeflateLevel = 6 }})
	c := e.raw(e.addr)
	c.login("alice")
	if feat := c.must(211, "FEAT"); !strings.Contains(feat, "\n MODE Z\n") {
		t.Errorf("FEAT without MODE Z: %q", feat)
	}
	c.must(200, "OPTS MODE Z LEVEL 9")
	c.must(501, "OPTS MODE Z LEVEL 0")
	c.must(200, "MODE Z")
	data := bytes.Repeat([]byte("compressible "), 10000)
	mustWrite(t, e.partnerFile("acme", "z.txt"), data)
	c.must(200, "TYPE I")
	wire := c.retr("z.txt")
	if len(wire) >= len(data)/10 {
		t.Errorf("MODE Z sent %d bytes for %d", len(wire), len(data))
	}
	back, err := rfcRep{typ: 'I', stru: 'F', mode: 'Z'}.decode(wire)
	if err != nil || !bytes.Equal(back, data) {
		t.Errorf("MODE Z download: %v", err)
	}
}

// Listings follow the session's MODE (and TYPE E), over passive and active
// data connections, in the engine's formats; REST before one is refused.
func TestRepresentationListings(t *testing.T) {
	e := newEnv(t, envOpts{configure: func(s *ftpd.Server) { s.DeflateLevel = 6 }})
	mustWrite(t, e.partnerFile("acme", "dir/a.txt"), []byte("aaa"))
	mustWrite(t, e.partnerFile("acme", "dir/b c.bin"), bytes.Repeat([]byte{0xff}, 70000))
	c := e.raw(e.addr)
	c.login("alice")
	// The reference: the engine's own listings in TYPE A, MODE S.
	c.must(200, "TYPE A")
	ref := map[string][]byte{}
	for _, cmd := range []string{"LIST dir", "NLST dir", "MLSD dir", "LIST", "NLST"} {
		ref[cmd] = c.list(cmd)
	}
	if !bytes.Contains(ref["NLST dir"], []byte("dir/b c.bin\r\n")) || !bytes.Contains(ref["MLSD dir"], []byte("Size=70000;")) {
		t.Fatalf("engine listings: %q", ref)
	}
	for _, tc := range []struct{ typ, mode byte }{{'A', 'Z'}, {'A', 'B'}, {'I', 'C'}, {'E', 'S'}, {'E', 'B'}} {
		c.must(200, "TYPE %c", tc.typ)
		c.must(200, "MODE %c", tc.mode)
		r := rfcRep{typ: 'A', stru: 'F', mode: tc.mode}
		if tc.typ == 'E' {
			r.typ, r.page = 'E', charmap.CodePage1047
		}
		for cmd, want := range ref {
			back, err := r.decode(c.list(cmd))
			if err != nil {
				t.Errorf("TYPE %c MODE %c %s: %v", tc.typ, tc.mode, cmd, err)
				continue
			}
			if want := bytes.ReplaceAll(want, []byte("\r\n"), []byte("\n")); !bytes.Equal(back, want) {
				t.Errorf("TYPE %c MODE %c %s: %q, want %q", tc.typ, tc.mode, cmd, back, want)
			}
		}
	}
	c.must(200, "TYPE I")
	c.must(200, "MODE Z")
	c.must(350, "REST 5")
	d := c.pasv()
	defer d.Close()
	if code, msg := c.cmd("LIST dir"); code < 500 {
		t.Errorf("LIST after REST: %d %s", code, msg)
	}
	// Active mode too.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	c.must(200, "PORT 127,0,0,1,%d,%d", port>>8, port&0xff)
	c.must(150, "NLST dir")
	dc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	wire, _ := io.ReadAll(dc)
	dc.Close()
	c.expect(226)
	if back, err := (rfcRep{typ: 'A', stru: 'F', mode: 'Z'}).decode(wire); err != nil || !bytes.Equal(back, bytes.ReplaceAll(ref["NLST dir"], []byte("\r\n"), []byte("\n"))) {
		t.Errorf("active NLST in MODE Z: %q %v", back, err)
	}
	// A missing folder is refused as the engine refuses it, without a path.
	d2 := c.pasv()
	defer d2.Close()
	if code, msg := c.cmd("LIST nowhere"); code != 550 || strings.Contains(msg, "listing") || strings.Contains(msg, e.files) {
		t.Errorf("LIST of a missing folder: %d %s", code, msg)
	}
}

// A partner set to IBM-037 gets that code page in TYPE E; others keep
// IBM-1047.
func TestRepresentationCodePage(t *testing.T) {
	e := newEnv(t, envOpts{})
	cp := "IBM-037"
	if _, err := e.svc.UpdatePartner(context.Background(), "other", partners.PartnerPatch{EBCDICCodePage: &cp}, nil); err != nil {
		t.Fatal(err)
	}
	bad := "IBM-500"
	if _, err := e.svc.UpdatePartner(context.Background(), "other", partners.PartnerPatch{EBCDICCodePage: &bad}, nil); err == nil {
		t.Fatal("code page IBM-500 accepted")
	}
	file := []byte("[brackets] and | bar ^ caret\n")
	for _, tc := range []struct {
		user, partner, page string
		cm                  *charmap.Charmap
	}{{"bob", "other", "IBM-037", charmap.CodePage037}, {"alice", "acme", "IBM-1047", charmap.CodePage1047}} {
		c := e.raw(e.addr)
		c.login(tc.user)
		if msg := c.must(200, "TYPE E"); !strings.Contains(msg, tc.page) {
			t.Errorf("%s: TYPE E reply %q", tc.user, msg)
		}
		r := rfcRep{typ: 'E', stru: 'F', mode: 'S', page: tc.cm}
		c.stor("cp.txt", r.encode(file))
		if stored, _ := os.ReadFile(e.partnerFile(tc.partner, "cp.txt")); !bytes.Equal(stored, file) {
			t.Errorf("%s: stored %q", tc.user, stored)
		}
		if got := c.retr("cp.txt"); !bytes.Equal(got, r.encode(file)) {
			t.Errorf("%s: download %x", tc.user, got)
		}
		c.must(221, "QUIT")
	}
}

// A converted upload goes through the partner's quota like any other: over
// it, the upload fails with 552 and nothing is published.
func TestRepresentationQuota(t *testing.T) {
	e := newEnv(t, envOpts{})
	quota := int64(1000)
	if _, err := e.svc.UpdatePartner(context.Background(), "acme", partners.PartnerPatch{QuotaBytes: &quota}, nil); err != nil {
		t.Fatal(err)
	}
	c := e.raw(e.addr)
	c.login("alice")
	c.must(200, "TYPE E")
	c.must(200, "MODE C")
	r := rfcRep{typ: 'E', stru: 'F', mode: 'C', page: charmap.CodePage1047}
	c.stor("small.txt", r.encode([]byte("fits\n")))
	d := c.pasv()
	c.must(150, "STOR big.txt")
	// 5,000 spaces: a few bytes on the wire, 5,000 on disk.
	if _, err := d.Write(r.encode(bytes.Repeat([]byte{' '}, 5000))); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if code, msg := c.read(); code != 552 {
		t.Errorf("upload over the quota: %d %s", code, msg)
	}
	if _, err := os.Stat(e.partnerFile("acme", "big.txt")); !os.IsNotExist(err) {
		t.Errorf("big.txt published over the quota: %v", err)
	}
	if b, _ := os.ReadFile(e.partnerFile("acme", "small.txt")); string(b) != "fits\n" {
		t.Errorf("small.txt: %q", b)
	}
}
