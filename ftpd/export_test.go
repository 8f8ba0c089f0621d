package ftpd

// BareEngine makes s serve connections straight from the engine, without
// the control layer: the reference the benchmarks measure the layer against.
func BareEngine(s *Server) { s.bareEngine = true }

// OnTransferClosed makes s call f after a transfer is counted out and before
// the engine writes its final reply.
func OnTransferClosed(s *Server, f func()) { s.transferClosed = f }

// PassiveAttempts is how many ports a PASV tries in a range of first-last.
func PassiveAttempts(first, last int) int { return passivePorts{first, last}.NumberAttempts() }
