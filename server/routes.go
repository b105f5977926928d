package server

import (
	"net/http"
)

// routes lists every endpoint, one block per area. It only lists: the
// store is prepared before (prepareStore).
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
	s.mux.Handle("GET /metrics", s.admin.Guard(s.metricsHandler()))

	// Uploads and the visitor's own files, with their CORS preflights
	// (uploads.go); an admin's download of a file.
	up := s.uploads()
	s.mux.Handle("POST /v1/upload", s.siteCORS("POST", http.HandlerFunc(up.Upload)))
	s.mux.Handle("OPTIONS /v1/upload", s.siteCORS("POST", nil))
	s.mux.Handle("GET /v1/files/{id}", s.siteCORS("GET", http.HandlerFunc(up.ServeVisitorFile)))
	s.mux.Handle("OPTIONS /v1/files/{id}", s.siteCORS("GET", nil))
	s.mux.Handle("GET /admin/api/files/{id}", s.admin.Guard(http.HandlerFunc(up.ServeAdminFile)))

	// The admin API, the privacy requests, the backup and the console
	// (package admin).
	s.admin.Routes(s.mux)

	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.errs.Error(w, r, http.StatusNotFound, "not_found", "no such endpoint")
	})
}
