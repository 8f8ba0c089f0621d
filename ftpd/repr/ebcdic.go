package repr

import "golang.org/x/text/encoding/charmap"

// A byteTable translates every byte value to another; the tables used here
// are permutations, so a translation and its inverse round-trip any bytes.
type byteTable [256]byte

// apply returns src translated into dst, which must be as long; a nil
// table (TYPE A) leaves the bytes as they are and returns src itself.
func (t *byteTable) apply(dst, src []byte) []byte {
	if t == nil {
		return src
	}
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = t[b]
	}
	return dst
}

// ebcdicTables returns the translations between file bytes and the EBCDIC
// code page.
//
// The file side is ISO-8859-1, which is the pair z/OS FTP translates between
// by default (SBDATACONN (IBM-1047,ISO8859-1)): both code pages hold exactly
// the 256 characters of Latin-1, so the translation is a permutation and any
// file, UTF-8 or not, round-trips byte for byte. As in z/OS's own tables, LF
// (0x0A) and NEL (0x85) swap places, so that a file's LF line end becomes
// EBCDIC NL (0x15), the end of line RFC 959 3.4 prescribes for EBCDIC, and a
// file's NEL becomes EBCDIC LF (0x25).
func ebcdicTables(cp CodePage) (toWire, toFile *byteTable) {
	cm := charmap.CodePage1047
	if cp == IBM037 {
		cm = charmap.CodePage037
	}
	toWire, toFile = new(byteTable), new(byteTable)
	for e := 0; e < 256; e++ {
		l := byte(cm.DecodeByte(byte(e))) // both code pages decode to U+0000..U+00FF
		switch l {
		case '\n':
			l = 0x85
		case 0x85:
			l = '\n'
		}
		toFile[e] = l
		toWire[l] = byte(e)
	}
	return toWire, toFile
}
