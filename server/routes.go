package server

import (
	"net/http"
)

// routes lists every endpoint, one block per area.
func (s *Server) routes() {
	// The widget: its script, its socket, and the demo host page when the
	// built-in demo site is served (demo.go).
	s.mux.HandleFunc("GET /widget.js", s.serveWidgetJS)
	s.mux.Handle("GET /v1/ws", s.Gateway)
	if s.demo != nil {
		s.mux.HandleFunc("GET /{$}", s.serveDemoPage)
	}

	// Operations: health and readiness for load balancers, public; the
	// metrics (and the forced GC of ?gc=1) only with the admin token here,
	// or without one on --debug-addr (debug.go).
	s.mux.HandleFunc("GET /healthz", s.serveHealth)
	s.mux.HandleFunc("GET /readyz", s.serveReady)
	s.mux.Handle("GET /metrics", s.requireAdmin(http.HandlerFunc(s.serveMetrics)))

	// Uploads and the visitor's own files (routes_uploads.go), the admin
	// API and console (admin_routes.go).
	s.uploadRoutes()
	s.adminRoutes()
	s.lifecycleRoutes()

	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "not_found", "no such endpoint")
	})
}
