package imap

import (
	"testing"

	"github.com/emersion/go-imap/v2"
)

// bodyStructure never describes a multipart without parts (go-imap's FETCH
// writer panics on one, dropping the connection without a reply), nor a
// part without the extended data BODYSTRUCTURE writes, and never panics.
func FuzzBodyStructure(f *testing.F) {
	for _, seed := range []string{
		"Subject: plain\r\n\r\nbody\r\n",
		"Content-Type: multipart/mixed\r\n\r\nno boundary\r\n",
		"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\nx\r\n----\r\n",
		"Content-Type: multipart/mixed; boundary=zzz\r\n\r\nboundary never appears\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n",
		"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\nnever opened\r\n--b1--\r\n",
		"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\n\r\nopen, never closed\r\n",
		"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/related\r\n\r\nbody\r\n--b1--\r\n",
		"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/x\r\n\r\n",
		"Content-Type: multipart/\r\n\r\n",
		"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\nsame boundary\r\n--a--\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\nbroken header line\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: multipart/mixed\r\n\r\n--c--\r\n--b--\r\n",
		"",
		"\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkTree(t, bodyStructure(raw))
	})
}

// checkTree fails on what go-imap's FETCH writer panics on; it walks the
// tree itself rather than trust validStructure, which it also tests.
func checkTree(t *testing.T, bs imap.BodyStructure) {
	t.Helper()
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if len(bs.Children) == 0 {
			t.Fatalf("multipart/%s without parts", bs.Subtype)
		}
		if bs.Extended == nil {
			t.Fatal("multipart without extended data")
		}
		for _, c := range bs.Children {
			checkTree(t, c)
		}
	case *imap.BodyStructureSinglePart:
		if bs.Extended == nil {
			t.Fatalf("%s without extended data", bs.MediaType())
		}
		if m := bs.MessageRFC822; m != nil {
			checkTree(t, m.BodyStructure)
		}
	default:
		t.Fatalf("body structure %T", bs)
	}
	if err := validStructure(bs); err != nil {
		t.Fatalf("validStructure refuses a valid tree: %v", err)
	}
}
