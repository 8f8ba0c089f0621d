package repr_test

import (
	"bytes"
	"fmt"
	"testing"
)

// TestRoundTrip checks every TYPE x STRU x MODE against the RFC model on
// every sample: the download's wire is the model's, the model's wire
// uploads to the file, and the two transforms invert each other.
func TestRoundTrip(t *testing.T) {
	for _, c := range allCombos() {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			for name, file := range samples() {
				want := stored(file, c)
				wire := rfcEncode(file, c.rfc)
				seed := uint64(len(file))

				got := download(t, file, c.r, seed)
				if c.rfc.mode == 'Z' {
					// Deflate output is not unique: compare what it inflates to.
					if stream := inflate(t, got); !bytes.Equal(stream, rfcStreamOf(file, c)) {
						t.Errorf("%s: download inflates to %s, want %s", name, clip(stream), clip(rfcStreamOf(file, c)))
					}
				} else if !bytes.Equal(got, wire) {
					t.Errorf("%s: download = %s, want %s", name, clip(got), clip(wire))
				}

				if decoded, err := rfcDecode(got, c.rfc); err != nil || !bytes.Equal(decoded, want) {
					t.Errorf("%s: RFC decoder reads the download as %s, %v; want %s", name, clip(decoded), err, clip(want))
				}

				up, err := upload(t, wire, c.r, seed)
				if err != nil || !bytes.Equal(up, want) {
					t.Errorf("%s: upload of the RFC wire = %s, %v; want %s", name, clip(up), err, clip(want))
				}

				if c.rfc.mode != 'Z' {
					if again := download(t, up, c.r, seed+1); !bytes.Equal(again, wire) {
						t.Errorf("%s: upload then download = %s, want the wire %s", name, clip(again), clip(wire))
					}
				}

				if back, err := upload(t, got, c.r, seed+2); err != nil || !bytes.Equal(back, want) {
					t.Errorf("%s: download then upload = %s, %v; want %s", name, clip(back), err, clip(want))
				}
			}
		})
	}
}

func rfcStreamOf(file []byte, c combo) []byte {
	return rfcStream(rfcLogical(file, c.rfc), c.rfc)
}

// clip shows a byte slice in a failure message without flooding it.
func clip(b []byte) string {
	if len(b) > 80 {
		return fmt.Sprintf("%q...(%d bytes)", b[:80], len(b))
	}
	return fmt.Sprintf("%q", b)
}
