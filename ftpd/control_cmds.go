package ftpd

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ferryhq/ferry/ftpd/repr"
	"github.com/ferryhq/ferry/internal/netaddr"
)

// route decides what becomes of a command line: nil when it was handed to
// the engine (c.out is set), or the layer's answer to it.
func (c *controlConn) route(line []byte) answer {
	verb, rawArg := splitCommand(line)
	if verb == "" || c.plain(verb) {
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
		return c.cmdTYPE(arg)
	case "MODE":
		return c.cmdMODE(arg)
	case "REST":
		if h := c.cmdREST(arg); h != nil {
			return h
		}
	case "SIZE":
		if h := c.refuseConverted(verb); h != nil {
			return h
		}
	case "RNTO":
		return c.cmdRNTO(line)
	case "LIST", "NLST", "MLSD":
		return c.cmdListing(verb, arg)
	case "OPTS":
		if h := c.cmdOPTS(arg); h != nil {
			return h
		}
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
	case "SIZE":
		return "SIZE"
	case "REST":
		return "REST"
	case "RNTO":
		return "RNTO"
	case "OPTS":
		return "OPTS"
	case "LIST":
		return "LIST"
	case "NLST":
		return "NLST"
	case "MLSD":
		return "MLSD"
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

// plain reports a command the engine answers as it is in the session's
// representation, without a look at the login: SIZE and REST when nothing
// is converted, listings in stream mode and ASCII (see cmdListing).
func (c *controlConn) plain(verb string) bool {
	switch verb {
	case "SIZE":
		return c.cur.IsIdentity()
	case "LIST", "NLST", "MLSD":
		return c.cur.Mode == repr.Stream && c.cur.Type != repr.EBCDIC
	}
	return false
}

// refused answers a TYPE, STRU or MODE argument repr refused, with its
// code (501 or 504) and text.
func (c *controlConn) refused(err error) answer {
	var re *repr.ReplyError
	if !errors.As(err, &re) {
		re = &repr.ReplyError{Code: 501, Text: "Syntax error in parameters"}
	}
	return func() error { return c.reply(re.Code, re.Text) }
}

// setRep makes r the session's representation. It runs in an answer, that
// is on the engine's reader goroutine once the engine has answered every
// earlier command: a transfer sent before the command still has the
// representation it started with.
func (c *controlConn) setRep(r repr.Representation) {
	c.cur = r
	c.mu.Lock()
	c.state.rep = r
	c.mu.Unlock()
}

// representation is the session's representation, for the driver.
func (c *controlConn) representation() repr.Representation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.rep
}

// codePage is the EBCDIC code page of the session's partner (IBM-1047
// unless the partner's setting says IBM-037).
func (c *controlConn) codePage() repr.CodePage {
	if s := c.session.Load(); s != nil {
		if l := s.loginInfo(); l != nil && l.EBCDICCodePage != "" {
			if cp, err := repr.ParseCodePage(l.EBCDICCodePage); err == nil {
				return cp
			}
		}
	}
	return repr.IBM1047
}

// cmdTYPE answers TYPE (RFC 959 3.1.1): A [N], E [N], I and L 8.
func (c *controlConn) cmdTYPE(arg string) answer {
	t, err := repr.ParseType(arg)
	if err != nil {
		return c.refused(err)
	}
	return func() error {
		r := c.cur
		r.Type = t
		if t == repr.EBCDIC {
			r.CodePage = c.codePage()
		}
		c.setRep(r)
		text := "Type set to " + t.String()
		switch t {
		case repr.ASCII:
			text += " N (ASCII Non-print)"
		case repr.EBCDIC:
			text += " (EBCDIC, " + r.CodePage.String() + ")"
		case repr.Image:
			text += " (Image)"
		case repr.Local8:
			text += " (Local byte size 8)"
		}
		return c.reply(200, text)
	}
}

// cmdSTRU answers STRU (RFC 959 3.1.2): F and R; P is refused as RFC 1123
// 4.1.2.3 recommends.
func (c *controlConn) cmdSTRU(arg string) answer {
	s, err := repr.ParseStru(arg)
	if err != nil {
		return c.refused(err)
	}
	return func() error {
		r := c.cur
		r.Structure = s
		c.setRep(r)
		return c.reply(200, "Structure set to "+s.String()+" ("+struName(s)+")")
	}
}

// cmdMODE answers MODE (RFC 959 3.4): S, B, C, and Z (a zlib stream) when
// the server offers it.
func (c *controlConn) cmdMODE(arg string) answer {
	m, err := repr.ParseMode(arg)
	if err != nil {
		return c.refused(err)
	}
	if m == repr.Deflate && c.srv.DeflateLevel <= 0 {
		return func() error { return c.reply(504, "MODE Z is not enabled on this server: use MODE S") }
	}
	return func() error {
		r := c.cur
		r.Mode = m
		c.setRep(r)
		return c.reply(200, "Mode set to "+m.String()+" ("+modeName(m)+")")
	}
}

// cmdOPTS answers OPTS MODE Z (draft-preston-ftpext-deflate: LEVEL n sets
// the compression level of the session's downloads); nil hands any other
// OPTS to the engine.
func (c *controlConn) cmdOPTS(arg string) answer {
	f := strings.Fields(strings.ToUpper(arg))
	if len(f) < 2 || f[0] != "MODE" || f[1] != "Z" {
		return nil
	}
	if c.srv.DeflateLevel <= 0 {
		return func() error { return c.reply(501, "MODE Z is not enabled on this server") }
	}
	if len(f) == 2 {
		return func() error { return c.reply(200, "MODE Z options unchanged") }
	}
	level := 0
	if len(f) == 4 && f[2] == "LEVEL" {
		if n, err := strconv.Atoi(f[3]); err == nil && n >= 1 && n <= 9 {
			level = n
		}
	}
	if level == 0 {
		return func() error { return c.reply(501, "Syntax: OPTS MODE Z LEVEL <1-9>") }
	}
	return func() error {
		r := c.cur
		r.Level = level
		c.setRep(r)
		return c.reply(200, "MODE Z LEVEL set to "+strconv.Itoa(level))
	}
}

// cmdREST refuses a restart position that is not a byte offset (RFC 3659
// 5.3: a decimal number from 0) with 501, before the engine, which takes
// any integer, negative ones too; then REST in a converted representation
// (see refuseConverted). A position past the end of the file is refused at
// the transfer, with 554 (see clientDriver.checkRestart).
func (c *controlConn) cmdREST(arg string) answer {
	arg = strings.TrimSpace(arg)
	if arg == "" || strings.TrimLeft(arg, "0123456789") != "" || len(arg) > 18 {
		return func() error {
			return c.reply(501, "REST needs a byte offset: a decimal number from 0 up to the file's SIZE")
		}
	}
	return c.refuseConverted("REST")
}

// cmdRNTO answers RNTO itself when the session's last RNFR failed or was
// already used (RFC 959: 503, bad sequence): the engine would rename the
// source of an earlier, successful RNFR. It waits for the engine's reply
// to every command before it, so the RNFR's outcome is known; otherwise
// the line goes to the engine.
func (c *controlConn) cmdRNTO(line []byte) answer {
	line = bytes.Clone(line)
	return func() error {
		if s := c.session.Load(); s != nil && !s.renamePending() {
			return c.reply(503, "RNTO must follow a successful RNFR: send RNFR again")
		}
		c.forward(line)
		return nil
	}
}

// refuseConverted answers SIZE and REST where the engine, which sees the
// file's bytes, would answer for data the session does not transfer as
// they are; nil hands the command to the engine.
//
// SIZE is the size of the transfer in the current TYPE (RFC 3659 4): the
// file's size in TYPE I and L 8 with file structure, whatever the MODE
// (its framing is not data); in TYPE A and E, or with record structure,
// it would need a pass over the whole file, so it is refused (550), as
// the engine refuses it in TYPE A. REST is a byte offset of the file: it
// is honoured in TYPE I and L 8 with file structure in MODE S and Z (a
// zlib stream of the file from there); an offset into converted text is
// ambiguous, and RFC 959's restart markers of MODE B and C are not
// implemented, so those refuse REST (504) before any transfer.
func (c *controlConn) refuseConverted(verb string) answer {
	r := c.cur
	text := r.Type == repr.ASCII || r.Type == repr.EBCDIC
	if verb == "SIZE" {
		switch {
		case text:
			return func() error {
				return c.reply(550, "SIZE not available in TYPE "+r.Type.String()+
					": the size of converted text differs from the file's; use TYPE I")
			}
		case r.Structure == repr.Record:
			return func() error {
				return c.reply(550, "SIZE not available in STRU R: use STRU F")
			}
		}
		return nil
	}
	switch {
	case text:
		return func() error {
			return c.reply(504, "REST not available in TYPE "+r.Type.String()+
				": an offset into converted text is ambiguous; use TYPE I to resume")
		}
	case r.Structure == repr.Record:
		return func() error { return c.reply(504, "REST not available in STRU R: use STRU F to resume") }
	case r.Mode == repr.Block || r.Mode == repr.Compressed:
		return func() error {
			return c.reply(504, "REST not available in MODE "+r.Mode.String()+
				": restart markers are not implemented; use MODE S to resume")
		}
	}
	return nil
}
