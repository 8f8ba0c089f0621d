package ftpd

import (
	"bytes"
	"slices"
	"strings"
)

// replyStream follows the engine's replies on their way to the client. It
// counts final replies (2xx to 5xx; 1xx are preliminary; a multi-line reply
// NNN-...NNN counts once when it ends), so the control layer knows when the
// engine has answered every command handed to it, and rewrites the few
// replies where Ferry has more to say than the engine (FEAT, STAT).
//
// The engine writes and flushes one line at a time, so a Write is almost
// always one whole line; a line split across Writes is held until its end.
type replyStream struct {
	// forwarded counts the replies expected: the greeting and one per
	// command line handed to the engine; finals counts those written.
	forwarded, finals int64
	// barrier: a NOOP was handed to the engine to learn when it has
	// answered everything before it; its 200 is not shown to the client.
	barrier bool
	// feat and stat: a FEAT or a STAT without argument was handed to
	// the engine; its reply is rewritten.
	feat, stat bool
	// modeZ: FEAT lists MODE Z (the layer's zlib stream; the engine's
	// own raw deflate is off).
	modeZ bool
	// transferReply replaces the engine's reply to a failed transfer
	// (see controlConn.failTransfer); nil: none pending.
	transferReply []byte
	// loggedIn reports whether the session has logged in; the engine's
	// idle-timeout 421 of a session that has not is a login timeout, and
	// says so. nil: the 421 is passed on as it is.
	loggedIn func() bool

	// ending: a reply that ends the session (221, 421) is on its way out.
	ending bool

	multi   int  // code of the multi-line reply in progress; 0: none
	inFeat  bool // inside the FEAT reply being rewritten
	inStat  bool // inside the STAT reply being rewritten
	partial []byte
	out     []byte
}

// balanced reports whether every command handed to the engine has its
// final reply.
func (r *replyStream) balanced() bool { return r.finals >= r.forwarded }

// feed takes what the engine wrote and returns what the client gets;
// statLines gives the lines STAT adds. The result may alias p.
func (r *replyStream) feed(p []byte, statLines func() []string) []byte {
	if len(r.partial) == 0 && len(p) > 0 && p[len(p)-1] == '\n' {
		// The usual case: whole lines, passed on as they are unless one
		// is dropped or rewritten.
		for off := 0; off < len(p); {
			i := off + bytes.IndexByte(p[off:], '\n') + 1
			if !r.account(p[off:i]) {
				r.out = append(r.out[:0], p[:off]...)
				r.out = r.line(r.out, p[off:i], statLines)
				return r.lines(r.out, p[i:], statLines)
			}
			off = i
		}
		return p
	}
	r.partial = append(r.partial, p...)
	i := bytes.LastIndexByte(r.partial, '\n') + 1
	r.out = r.lines(r.out[:0], r.partial[:i], statLines)
	r.partial = append(r.partial[:0], r.partial[i:]...)
	return r.out
}

// lines processes whole lines, appending what the client gets to out.
func (r *replyStream) lines(out, p []byte, statLines func() []string) []byte {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n') + 1
		if r.account(p[:i]) {
			out = append(out, p[:i]...)
		} else {
			out = r.line(out, p[:i], statLines)
		}
		p = p[i:]
	}
	return out
}

// account updates the counts for one line and reports whether the line
// goes to the client unchanged; when it does not, the state is left for
// line to update.
func (r *replyStream) account(l []byte) bool {
	code, sep := replyCode(l)
	switch {
	case r.multi != 0:
		if code == r.multi && sep != '-' {
			if r.inFeat || r.inStat {
				return false
			}
			r.multi = 0
			r.final(code)
			return true
		}
		return !r.inFeat || !hashFeature(l)
	case code == 0:
		return true // not a reply line; passed on
	case sep == '-':
		if (r.feat && code == 211 && bytes.Contains(l, []byte("features"))) ||
			(r.stat && code == 211 && bytes.Contains(l, []byte("Server status"))) {
			return false
		}
		r.multi = code
		return true
	case r.barrier && code == 200:
		return false
	case r.transferReply != nil && code >= 400 && code != 421:
		return false
	case code >= 400 && bytes.Contains(l, driverErrorMark), r.loginTimedOut(code, l), temporary(code, l):
		return false
	default:
		r.final(code)
		return true
	}
}

// line updates the state for a line account declined and appends what the
// client gets instead.
func (r *replyStream) line(out, l []byte, statLines func() []string) []byte {
	code, sep := replyCode(l)
	switch {
	case r.multi != 0 && code == r.multi && sep != '-':
		if r.inFeat && r.modeZ {
			out = append(out, " MODE Z\r\n"...)
		}
		if r.inStat {
			for _, s := range statLines() {
				out = append(out, s...)
				out = append(out, '\r', '\n')
			}
		}
		r.multi, r.inFeat, r.inStat = 0, false, false
		r.final(code)
		return append(out, l...)
	case r.multi != 0:
		if r.inFeat && hashFeature(l) {
			return append(out, hashLine(string(l))...)
		}
		return append(out, l...)
	case code != 0 && sep == '-':
		r.multi = code
		if r.feat && bytes.Contains(l, []byte("features")) {
			r.feat, r.inFeat = false, true
		} else if r.stat && bytes.Contains(l, []byte("Server status")) {
			r.stat, r.inStat = false, true
		}
		return append(out, l...)
	case r.barrier && code == 200:
		// The barrier's NOOP: the engine has answered everything before
		// it, whether or not each command got its reply (a transfer
		// aborted before it opened gets none).
		r.barrier = false
		r.finals = r.forwarded
		return out
	case r.transferReply != nil && code >= 400 && code != 421:
		out = append(out, r.transferReply...)
		r.transferReply = nil
		r.final(code)
		return out
	case code >= 400 && bytes.Contains(l, driverErrorMark):
		r.final(code)
		return append(out, driverReply(l)...)
	case r.loginTimedOut(code, l):
		r.final(code)
		return append(out, loginTimeoutReply...)
	case temporary(code, l):
		r.final(code)
		return append(out, temporaryReply...)
	}
	if code >= 200 {
		r.final(code)
	}
	return append(out, l...)
}

func (r *replyStream) final(code int) {
	if code >= 200 {
		r.finals++
	}
	if code == 221 || code == 421 { // RFC 959: the server closes the control connection
		r.ending = true
	}
}

// driverErrorMark is how the engine prefixes a driver's error in a reply
// ("driver error: calling GetHandle: "); the driver's own text after it is
// already written for partners (see partnerError).
var driverErrorMark = []byte("driver error: calling ")

// driverReply is an engine reply that carries a driver's error with the
// engine's wrapping taken out: "550 Could not access file: driver error:
// calling GetHandle: Permission denied: this account may not upload"
// becomes "550 Permission denied: this account may not upload".
func driverReply(l []byte) []byte {
	i := bytes.Index(l, driverErrorMark)
	rest := l[i+len(driverErrorMark):]
	if j := bytes.Index(rest, []byte(": ")); j >= 0 {
		rest = rest[j+2:]
	}
	out := make([]byte, 0, 4+len(rest))
	out = append(out, l[:4]...) // "550 "
	return append(out, rest...)
}

// engineTimeoutMark is in the engine's reply when a read times out
// ("421 command timeout (900 seconds): closing control connection"): it
// names the idle timeout even when the login deadline ended the read.
var engineTimeoutMark = []byte("command timeout (")

var loginTimeoutReply = []byte("421 Login timeout: no login in the time allowed after connecting; closing control connection\r\n")

// loginTimedOut reports the engine's timeout reply to a session that has
// not logged in.
func (r *replyStream) loginTimedOut(code int, l []byte) bool {
	return code == 421 && r.loggedIn != nil && bytes.Contains(l, engineTimeoutMark) && !r.loggedIn()
}

// temporaryMark is the driver's errTemporary in the engine's 530 to USER
// ("530 User rejected: ...") or PASS ("530 Authentication error: ..."),
// after which the engine closes the connection.
var temporaryMark = []byte(errTemporary.Error())

var temporaryReply = []byte("421 Service not available: temporary failure, try again later; closing control connection\r\n")

// temporary reports a login the engine refused because Ferry failed, not
// the client: RFC 959's reply for that is 421.
func temporary(code int, l []byte) bool {
	return code == 530 && bytes.Contains(l, temporaryMark)
}

// replyCode parses "NNN " or "NNN-" at the start of a line; 0 when the
// line does not start with a reply code.
func replyCode(l []byte) (int, byte) {
	if len(l) < 4 {
		return 0, 0
	}
	for _, b := range l[:3] {
		if b < '0' || b > '9' {
			return 0, 0
		}
	}
	if l[0] < '1' || l[0] > '5' {
		return 0, 0
	}
	sep := l[3]
	if sep != ' ' && sep != '-' && sep != '\r' && sep != '\n' {
		return 0, 0
	}
	return int(l[0]-'0')*100 + int(l[1]-'0')*10 + int(l[2]-'0'), sep
}

// hashFeature reports the engine's FEAT line of hash algorithms, which it
// lists without the HASH keyword (" CRC32;MD5;SHA-1;SHA-256*;SHA-512;").
func hashFeature(l []byte) bool {
	return len(l) > 1 && l[0] == ' ' && bytes.Contains(l, []byte("SHA-256")) && bytes.IndexByte(l, ';') > 0 &&
		!bytes.HasPrefix(l, []byte(" HASH"))
}

// hashLine rewrites the engine's hash feature line in the form of the HASH
// draft (draft-bryan-ftpext-hash): "HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32",
// the selected algorithm marked with "*", the strongest first.
func hashLine(l string) string {
	order := []string{"SHA-256", "SHA-512", "SHA-1", "MD5", "CRC32"}
	var names []string
	for f := range strings.SplitSeq(strings.TrimSpace(l), ";") {
		if f != "" {
			names = append(names, f)
		}
	}
	slices.SortStableFunc(names, func(a, b string) int {
		ia, ib := slices.Index(order, strings.TrimSuffix(a, "*")), slices.Index(order, strings.TrimSuffix(b, "*"))
		if ia < 0 {
			ia = len(order)
		}
		if ib < 0 {
			ib = len(order)
		}
		return ia - ib
	})
	return " HASH " + strings.Join(names, ";") + "\r\n"
}
