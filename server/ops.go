package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/parley-chat/parley/server/loadtest"
)

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// serveReady answers 200 "ready" while the store answers reads, else 503
// "not ready". It is public (load balancers ask it), so it says nothing
// more; the reason goes to the log.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if _, err := s.Store.Visitor(ctx, "readyz-probe"); err != nil && !isNotFound(err) {
		s.log.Warn("readyz: the store does not answer", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready")
		return
	}
	fmt.Fprintln(w, "ready")
}

// serveMetrics writes the Prometheus text format: the gateway's counters
// and the process's memory, so memory per connection can be read off.
// With ?gc=1 it collects garbage first (at most once a second), so heap
// figures count live memory only: the load tool asks for that. It is
// routed behind the admin token, and without one on --debug-addr.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.Gateway.Stats.WritePrometheus(w)
	fmt.Fprintf(w, "# HELP parley_widget_loads_total Requests for /widget.js (page views that loaded the script; a browser's cache hides repeats within 5 min).\n# TYPE parley_widget_loads_total counter\nparley_widget_loads_total %d\n", s.widgetLoads.Load())
	// The same gauges as the load tool's echo baseline, by the same code.
	loadtest.WriteProcessMetrics(w, r.URL.Query().Get("gc") == "1")
}
