package server

import (
	"fmt"
	"net/http"
)

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// serveReady answers 200 "ready" while the store answers reads (and,
// for one of several nodes, the bus is connected), else 503
// "not ready". It is public (load balancers ask it), so it says nothing
// more; the reason goes to the log.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.probeStore(r.Context()); err != nil { // storehealth.go
		s.log.Warn("readyz: the store does not answer", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready")
		return
	}
	if err := s.probeBus(); err != nil { // cluster.go
		s.log.Warn("readyz: the bus does not answer", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready")
		return
	}
	fmt.Fprintln(w, "ready")
}
