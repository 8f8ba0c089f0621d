package ftpd

// BareEngine makes s serve connections straight from the engine, without
// the control layer: the reference the benchmarks measure the layer against.
func BareEngine(s *Server) { s.bareEngine = true }
