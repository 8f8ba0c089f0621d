package ftpd

import "github.com/ferryhq/ferry/ftpd/repr"

// reprState is what the control layer knows of a session's representation
// and data protection: the TYPE, STRU and MODE the client chose (the layer
// answers all three; the engine stays in MODE S and, its ASCII conversion
// off, sends and stores bytes as they are), and PBSZ/PROT (RFC 2228,
// RFC 4217). It is guarded by its controlConn's mu.
type reprState struct {
	rep  repr.Representation // the RFC 959 default to start: TYPE A N, STRU F, MODE S
	pbsz bool                // PBSZ was accepted
	prot byte                // 'C' or 'P'; 0 before PROT
	tls  bool                // the control connection is TLS (copied for STAT)
}

// newReprState is a session's start: TYPE A N, STRU F, MODE S (RFC 959
// 5.1); MODE Z, once chosen, compresses at level.
func newReprState(level int) reprState {
	return reprState{rep: repr.Representation{Level: level}}
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
		"TYPE: " + typeName(s.rep) + "; STRUcture: " + struName(s.rep.Structure) + "; MODE: " + modeName(s.rep.Mode),
		"Control connection: " + control + "; data connections: " + data,
	}
}

// typeName is RFC 959's name of a representation type.
func typeName(r repr.Representation) string {
	switch r.Type {
	case repr.ASCII:
		return "ASCII Non-print"
	case repr.EBCDIC:
		return "EBCDIC Non-print (" + r.CodePage.String() + ")"
	case repr.Local8:
		return "Local byte size 8"
	}
	return "Image"
}

func struName(s repr.Structure) string {
	if s == repr.Record {
		return "Record"
	}
	return "File"
}

func modeName(m repr.Mode) string {
	switch m {
	case repr.Block:
		return "Block"
	case repr.Compressed:
		return "Compressed"
	case repr.Deflate:
		return "Deflate (zlib)"
	}
	return "Stream"
}
