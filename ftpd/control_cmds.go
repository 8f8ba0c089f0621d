package ftpd

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ferryhq/ferry/internal/netaddr"
)

// route decides what becomes of a command line: nil when it was handed to
// the engine (c.out is set), or the layer's answer to it.
func (c *controlConn) route(line []byte) answer {
	verb, rawArg := splitCommand(line)
	if verb == "" {
		// The commands the engine answers as they are, the transfers
		// among them: handed on without a look at the session.
		c.forward(line)
		return nil
	}
	arg := string(rawArg)
	loggedIn, tlsRequired := c.account()
	switch verb {
	case "AUTH":
		return c.cmdAUTH(arg)
	case "PBSZ":
		return c.cmdPBSZ(arg)
	case "PROT":
		return c.cmdPROT(line, arg, loggedIn, tlsRequired)
	case "HELP":
		return func() error { return c.help(arg) }
	case "ACCT":
		return func() error { return c.reply(202, "ACCT is not needed on this server") }
	case "FEAT":
		c.mu.Lock()
		c.replies.feat = true
		c.mu.Unlock()
	case "STAT":
		if arg == "" {
			c.mu.Lock()
			c.replies.stat = true
			c.state.tls = c.tls.Load()
			c.mu.Unlock()
		}
	}
	if !loggedIn {
		// The engine refuses the other commands before login (530).
		c.forward(line)
		return nil
	}
	switch verb {
	case "STRU":
		return c.cmdSTRU(arg)
	case "TYPE":
		return c.cmdTYPE(line, arg)
	case "MODE":
		return c.cmdMODE(line, arg)
	case "PORT", "EPRT":
		return c.cmdPORT(line, verb, arg)
	case "SITE":
		if sub, _, _ := strings.Cut(arg, " "); strings.EqualFold(sub, "HELP") {
			return func() error { return c.siteHelp() }
		}
	}
	c.forward(line)
	return nil
}

// splitCommand returns a line's command when the layer looks at it (see
// verbName; empty otherwise) and its argument without the line end.
func splitCommand(line []byte) (string, []byte) {
	line = bytes.TrimRight(line, "\r\n")
	verb, arg, _ := bytes.Cut(line, []byte(" "))
	if len(verb) > 4 {
		return "", nil
	}
	var up [4]byte
	for i, b := range verb {
		if 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		}
		up[i] = b
	}
	return verbName(up[:len(verb)]), arg
}

// verbName returns the name of an upper-case command the layer answers or
// looks at, or "" for the others, without allocating (the compiler turns
// the string conversion in a switch into comparisons).
func verbName(v []byte) string {
	switch string(v) {
	case "AUTH":
		return "AUTH"
	case "PBSZ":
		return "PBSZ"
	case "PROT":
		return "PROT"
	case "HELP":
		return "HELP"
	case "ACCT":
		return "ACCT"
	case "FEAT":
		return "FEAT"
	case "STAT":
		return "STAT"
	case "STRU":
		return "STRU"
	case "TYPE":
		return "TYPE"
	case "MODE":
		return "MODE"
	case "PORT":
		return "PORT"
	case "EPRT":
		return "EPRT"
	case "SITE":
		return "SITE"
	}
	return ""
}

// cmdAUTH answers AUTH TLS (RFC 4217; AUTH SSL and TLS-C are older names).
func (c *controlConn) cmdAUTH(arg string) answer {
	return func() error {
		switch strings.ToUpper(strings.TrimSpace(arg)) {
		case "TLS", "TLS-C", "SSL", "TLS-P":
		case "":
			return c.reply(501, "AUTH needs a mechanism: AUTH TLS")
		default:
			return c.reply(504, "Security mechanism not understood: use AUTH TLS")
		}
		switch {
		case c.srv.TLSConfig == nil:
			return c.reply(502, "TLS is not configured on this server")
		case c.tls.Load():
			return c.reply(503, "The control connection is already protected by TLS")
		}
		return c.startTLS()
	}
}

// cmdPBSZ answers PBSZ: TLS has no protection buffer, so the size is 0
// whatever the client asks (RFC 4217 9).
func (c *controlConn) cmdPBSZ(arg string) answer {
	return func() error {
		if !c.tls.Load() {
			return c.reply(503, "PBSZ comes after AUTH TLS")
		}
		if _, err := strconv.ParseUint(strings.TrimSpace(arg), 10, 32); err != nil {
			return c.reply(501, "PBSZ needs a decimal size: PBSZ 0")
		}
		c.mu.Lock()
		c.state.pbsz = true
		c.mu.Unlock()
		return c.reply(200, "PBSZ=0")
	}
}

// cmdPROT answers PROT (RFC 2228, RFC 4217 9): P and C are handed to the
// engine, which protects data connections after P; S and E do not exist
// with TLS; an account that requires TLS may not choose C.
func (c *controlConn) cmdPROT(line []byte, arg string, loggedIn, tlsRequired bool) answer {
	level := strings.ToUpper(strings.TrimSpace(arg))
	c.mu.Lock()
	pbsz := c.state.pbsz
	c.mu.Unlock()
	implicit := c.srv.Implicit
	switch {
	case !c.tls.Load():
		return func() error { return c.reply(503, "PROT comes after AUTH TLS and PBSZ 0") }
	case !pbsz:
		return func() error { return c.reply(503, "Send PBSZ 0 before PROT") }
	case level == "":
		return func() error { return c.reply(501, "PROT needs a level: PROT P") }
	case level == "S" || level == "E":
		return func() error { return c.reply(536, "PROT "+level+" is not supported with TLS: use PROT P") }
	case level == "C" && implicit:
		return func() error {
			return c.reply(536, "Data connections of implicit FTPS are always protected: use PROT P")
		}
	case level == "C" && loggedIn && tlsRequired:
		return func() error {
			return c.reply(534, "This account requires protected data connections: use PROT P")
		}
	case level != "P" && level != "C":
		return func() error { return c.reply(504, "Unknown protection level: use PROT P or PROT C") }
	}
	c.mu.Lock()
	c.state.prot = level[0]
	c.mu.Unlock()
	c.forward(line)
	return nil
}

// cmdSTRU answers STRU: F, the only structure served until record
// structure is wired; P is refused as RFC 1123 4.1.2.3 recommends.
func (c *controlConn) cmdSTRU(arg string) answer {
	return func() error {
		switch strings.ToUpper(strings.TrimSpace(arg)) {
		case "F":
			c.mu.Lock()
			c.state.stru = "File"
			c.mu.Unlock()
			return c.reply(200, "Structure set to File")
		case "R":
			return c.reply(504, "Record structure is not available: use STRU F")
		case "P":
			return c.reply(504, "Page structure is not supported: use STRU F")
		case "":
			return c.reply(501, "STRU needs a structure code: STRU F")
		}
		return c.reply(501, "Unknown structure code: use STRU F")
	}
}

// cmdTYPE hands TYPE to the engine, noting the types it accepts (as it
// normalizes them: spaces dropped, upper case); it refuses the others
// itself (504).
func (c *controlConn) cmdTYPE(line []byte, arg string) answer {
	if strings.TrimSpace(arg) == "" {
		return func() error { return c.reply(501, "TYPE needs a type code: TYPE A or TYPE I") }
	}
	typ := ""
	switch strings.ReplaceAll(strings.ToUpper(arg), " ", "") {
	case "I", "L8":
		typ = "Image"
	case "A", "AN", "L7":
		typ = "ASCII Non-print"
	}
	if typ != "" {
		c.mu.Lock()
		c.state.typ = typ
		c.mu.Unlock()
	}
	c.forward(line)
	return nil
}

// cmdMODE hands MODE to the engine, noting the modes it accepts.
func (c *controlConn) cmdMODE(line []byte, arg string) answer {
	mode := ""
	switch strings.TrimSpace(arg) {
	case "":
		return func() error { return c.reply(501, "MODE needs a mode code: MODE S") }
	case "S":
		mode = "Stream"
	case "Z":
		if c.srv.DeflateLevel > 0 {
			mode = "Deflate"
		}
	}
	if mode != "" {
		c.mu.Lock()
		c.state.mode = mode
		c.mu.Unlock()
	}
	c.forward(line)
	return nil
}

// cmdPORT refuses an active data connection to another address than the
// client's or to a privileged port (below 1024) before any connection is
// made: FTP bounce (RFC 2577). A PORT or EPRT that does not parse is the
// engine's to refuse.
func (c *controlConn) cmdPORT(line []byte, verb, arg string) answer {
	var (
		ap netip.AddrPort
		ok bool
	)
	if verb == "PORT" {
		ap, ok = parsePORT(arg)
	} else {
		ap, ok = parseEPRT(arg)
	}
	if ok {
		client := netaddr.Of(c.RemoteAddr()).Unmap()
		if ap.Addr().Unmap() != client {
			return func() error { return c.reply(501, verb+" must name your own address") }
		}
		if ap.Port() < 1024 {
			return func() error { return c.reply(501, verb+" to a privileged port (below 1024) is refused") }
		}
	}
	c.forward(line)
	return nil
}

// parsePORT parses RFC 959's h1,h2,h3,h4,p1,p2.
func parsePORT(arg string) (netip.AddrPort, bool) {
	f := strings.Split(strings.TrimSpace(arg), ",")
	if len(f) != 6 {
		return netip.AddrPort{}, false
	}
	var b [6]byte
	for i, s := range f {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 8)
		if err != nil {
			return netip.AddrPort{}, false
		}
		b[i] = byte(n)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), uint16(b[4])<<8|uint16(b[5])), true
}

// parseEPRT parses RFC 2428's <d>proto<d>address<d>port<d>.
func parseEPRT(arg string) (netip.AddrPort, bool) {
	arg = strings.TrimSpace(arg)
	if len(arg) < 2 {
		return netip.AddrPort{}, false
	}
	f := strings.Split(arg, arg[:1])
	if len(f) != 5 || f[0] != "" || f[4] != "" || (f[1] != "1" && f[1] != "2") {
		return netip.AddrPort{}, false
	}
	addr, err := netip.ParseAddr(f[2])
	if err != nil || (f[1] == "1") != addr.Is4() {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(f[3], 10, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(addr, uint16(port)), true
}
