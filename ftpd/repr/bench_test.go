package repr_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/ferryhq/ferry/ftpd/repr"
)

// The benchmarks report MB/s of file bytes. "io.Copy" is the reference in
// the same run: the plain 32 KiB user-space copy the engine makes when
// nothing is converted and sendfile/splice cannot be used.

var benchCombos = []string{
	"A-F-S", "E1047-F-S", "A-R-S", "E1047-R-S", "I-R-S",
	"A-F-B", "I-F-B", "E1047-R-B",
	"A-F-C", "I-F-C", "E1047-R-C",
	"A-F-Z", "I-F-Z",
}

func benchFile(b *testing.B) []byte {
	b.Helper()
	file, err := io.ReadAll(&textSource{left: 4 << 20})
	if err != nil {
		b.Fatal(err)
	}
	return file
}

func benchCombo(b *testing.B, name string) combo {
	for _, c := range allCombos() {
		if c.String() == name {
			return c
		}
	}
	b.Fatalf("no combo %s", name)
	return combo{}
}

type readerOnly struct{ io.Reader }
type writerOnly struct{ io.Writer }

func BenchmarkDownload(b *testing.B) {
	file := benchFile(b)
	b.Run("io.Copy", func(b *testing.B) {
		b.SetBytes(int64(len(file)))
		for b.Loop() {
			io.Copy(writerOnly{io.Discard}, readerOnly{bytes.NewReader(file)})
		}
	})
	for _, name := range benchCombos {
		c := benchCombo(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(file)))
			for b.Loop() {
				d, err := repr.NewDownload(bytes.NewReader(file), c.r)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(writerOnly{io.Discard}, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUpload(b *testing.B) {
	file := benchFile(b)
	b.Run("io.Copy", func(b *testing.B) {
		b.SetBytes(int64(len(file)))
		for b.Loop() {
			io.Copy(writerOnly{io.Discard}, readerOnly{bytes.NewReader(file)})
		}
	})
	for _, name := range benchCombos {
		c := benchCombo(b, name)
		wire := download(b, file, c.r, 1)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(file)))
			for b.Loop() {
				u, err := repr.NewUpload(io.Discard, c.r)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(u, readerOnly{bytes.NewReader(wire)}); err != nil {
					b.Fatal(err)
				}
				if err := u.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
