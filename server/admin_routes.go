package server

// adminRoutes registers the admin API and console under /admin/.
func (s *Server) adminRoutes() {}
