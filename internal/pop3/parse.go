package pop3

import "bytes"

// parseCommand splits a command line, without its line terminator, into
// an upper-cased keyword and its arguments (RFC 1939 section 3).
//
// Arguments are separated by spaces; empty fields are ignored. PASS is
// special: its single argument is everything after the space that follows
// the keyword, spaces included, as RFC 1939 allows. Control characters
// anywhere in the line are rejected.
func parseCommand(line []byte) (cmd string, args []string, err error) {
	for _, b := range line {
		if b < 0x20 || b == 0x7f {
			return "", nil, errInvalidChars
		}
	}
	i := 0
	for i < len(line) && line[i] == ' ' {
		i++
	}
	start := i
	for i < len(line) && line[i] != ' ' {
		i++
	}
	if start == i {
		return "", nil, errEmptyCommand
	}
	kw := make([]byte, i-start)
	for j, b := range line[start:i] {
		if 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		}
		kw[j] = b
	}
	cmd = string(kw)
	rest := line[i:]

	if cmd == "PASS" {
		if len(rest) > 1 {
			args = []string{string(rest[1:])}
		}
		return cmd, args, nil
	}
	for _, f := range bytes.Split(rest, []byte{' '}) {
		if len(f) > 0 {
			args = append(args, string(f))
		}
	}
	return cmd, args, nil
}
