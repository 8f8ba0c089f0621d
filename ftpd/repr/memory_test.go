package repr_test

import (
	"hash/crc32"
	"io"
	"runtime"
	"testing"

	"github.com/ferryhq/ferry/ftpd/repr"
)

// textSource is an endless-looking text file produced as it is read: lines
// of varying length with runs of spaces and 0xFF bytes.
type textSource struct {
	left int64
	line int
}

func (s *textSource) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && s.left > 0 {
		s.line++
		l := []byte("RECORD \xff\xff 0000000000                                    END\n")
		l = l[:20+s.line%40]
		l[len(l)-1] = '\n'
		k := copy(p[n:], l[:min(int64(len(l)), s.left)])
		n += k
		s.left -= int64(k)
	}
	if s.left == 0 {
		p[n-1] = '\n' // a text file: its last line ends
	}
	return n, nil
}

// TestConstantMemory pushes 4 MiB and then 32 MiB through a download and
// an upload in each mode and checks that what they allocate does not grow
// with the file: a transform that buffered the file would allocate at least
// the difference.
func TestConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 36 MiB per mode")
	}
	for _, r := range []repr.Representation{
		{Type: repr.EBCDIC, Structure: repr.Record, Mode: repr.Stream},
		{Type: repr.ASCII, Mode: repr.Block},
		{Type: repr.ASCII, Structure: repr.Record, Mode: repr.Compressed},
		{Type: repr.Image, Structure: repr.Record, Mode: repr.Deflate},
	} {
		small, large := roundTripAlloc(t, r, 4<<20), roundTripAlloc(t, r, 32<<20)
		t.Logf("%v: %d KiB allocated for 4 MiB, %d KiB for 32 MiB", r, small>>10, large>>10)
		if large > small+256<<10 {
			t.Errorf("%v: allocations grow with the file (%d KiB for 4 MiB, %d KiB for 32 MiB)", r, small>>10, large>>10)
		}
	}
}

// roundTripAlloc downloads and uploads a file of size bytes in r, checks
// that the file comes through, and returns the bytes allocated meanwhile.
func roundTripAlloc(t *testing.T, r repr.Representation, size int64) uint64 {
	want := crc32.NewIEEE()
	io.Copy(want, &textSource{left: size})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d, err := repr.NewDownload(&textSource{left: size}, r)
	if err != nil {
		t.Fatal(err)
	}
	got := crc32.NewIEEE()
	u, err := repr.NewUpload(got, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(u, d); err != nil {
		t.Fatalf("%v: %v", r, err)
	}
	if err := u.Close(); err != nil {
		t.Fatalf("%v: %v", r, err)
	}
	runtime.ReadMemStats(&after)
	if got.Sum32() != want.Sum32() {
		t.Errorf("%v: the file changed on its way through", r)
	}
	return after.TotalAlloc - before.TotalAlloc
}
