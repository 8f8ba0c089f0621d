package ftpd

// reprState is what the control layer knows of a session's representation
// and data protection: the TYPE, STRU and MODE the engine was handed (or
// the layer answered), and PBSZ/PROT (RFC 2228, RFC 4217). It is guarded
// by its controlConn's mu.
type reprState struct {
	typ  string // RFC 959 name of the TYPE: "ASCII Non-print", "Image"
	stru string // "File"
	mode string // "Stream", "Deflate"
	pbsz bool   // PBSZ was accepted
	prot byte   // 'C' or 'P'; 0 before PROT
	tls  bool   // the control connection is TLS (copied for STAT)
}

// newReprState is the engine's start: TYPE A (its default transfer type),
// STRU F, MODE S.
func newReprState() reprState {
	return reprState{typ: "ASCII Non-print", stru: "File", mode: "Stream"}
}

// statLines are the lines STAT (without argument) adds to the engine's
// server status.
func (s *reprState) statLines() []string {
	control, data := "clear", "clear"
	if s.tls {
		control = "TLS"
	}
	if s.prot == 'P' {
		data = "TLS (PROT P)"
	}
	return []string{
		"TYPE: " + s.typ + "; STRUcture: " + s.stru + "; MODE: " + s.mode,
		"Control connection: " + control + "; data connections: " + data,
	}
}
