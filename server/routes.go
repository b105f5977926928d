package server

import (
	"net/http"
)

// routes lists every endpoint, one block per area.
func (s *Server) routes() {
	// The widget: its script, its socket, the demo host page.
	s.mux.HandleFunc("GET /widget.js", s.serveWidgetJS)
	s.mux.Handle("GET /v1/ws", s.Gateway)
	s.mux.HandleFunc("GET /{$}", s.serveDemoPage)

	// Operations.
	s.mux.HandleFunc("GET /healthz", s.serveHealth)
	s.mux.HandleFunc("GET /readyz", s.serveReady)
	s.mux.HandleFunc("GET /metrics", s.serveMetrics)

	// Uploads and the visitor's own files (routes_uploads.go), the admin
	// API and console (admin_routes.go).
	s.uploadRoutes()
	s.adminRoutes()
	s.lifecycleRoutes()

	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "not_found", "no such endpoint")
	})
}
