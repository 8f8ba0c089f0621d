package imap

// HeaderCacheUsed returns the header bytes the server's folders hold.
func (s *Server) HeaderCacheUsed() int64 { return s.headerCache.Load() }
