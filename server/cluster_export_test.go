package server

// Crash stops the server's part in its cluster as a kill -9 would: the
// lease is no longer renewed and the bus connection drops, with no
// goodbye to the store; the rest of the server runs on, fenced out of
// every write once its lease passed.
func (s *Server) Crash() {
	if n := s.node; n != nil {
		n.left.Do(func() {
			n.cancel()
			n.wg.Wait()
			n.bus.Close()
		})
	}
}
