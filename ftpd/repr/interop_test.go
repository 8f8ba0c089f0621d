package repr_test

import (
	"bytes"
	"os/exec"
	"testing"
)

// TestDeflateWithZlib checks MODE Z against the C zlib that lftp and
// FileZilla use, through python3's zlib module: Ferry's downloads inflate
// there, and streams compressed there (in sync-flushed pieces, the way a
// client compresses as it sends) upload.
func TestDeflateWithZlib(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed (apt-get install -y python3)")
	}
	const inflate = `import sys, zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read()))`
	const deflate = `import sys, zlib
data = sys.stdin.buffer.read()
z = zlib.compressobj(9)
out = b""
for i in range(0, len(data), 10000):
    out += z.compress(data[i:i+10000]) + z.flush(zlib.Z_SYNC_FLUSH)
sys.stdout.buffer.write(out + z.flush())`
	python := func(script string, in []byte) []byte {
		cmd := exec.Command("python3", "-c", script)
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("python3: %v", err)
		}
		return out
	}
	s := samples()
	for _, c := range allCombos() {
		switch c.String() {
		case "A-F-Z", "E1047-R-Z", "I-F-Z", "I-R-Z":
		default:
			continue
		}
		for _, name := range []string{"empty", "no final newline", "multi-block text", "multi-block binary"} {
			file := s[name]
			stream := rfcStreamOf(file, c)
			if got := python(inflate, download(t, file, c.r, 5)); !bytes.Equal(got, stream) {
				t.Errorf("%v %s: zlib inflates the download to %s, want %s", c, name, clip(got), clip(stream))
			}
			if got, err := upload(t, python(deflate, stream), c.r, 6); err != nil || !bytes.Equal(got, stored(file, c)) {
				t.Errorf("%v %s: upload of zlib's stream = %s, %v; want %s", c, name, clip(got), err, clip(stored(file, c)))
			}
		}
	}
}
