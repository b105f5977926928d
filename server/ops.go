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

// serveReady answers 200 while the store answers reads.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.Store.Visitor(ctx, "readyz-probe"); err != nil && !isNotFound(err) {
		writeError(w, r, http.StatusServiceUnavailable, "store_unavailable", "the store does not answer")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ready")
}

// serveMetrics writes the Prometheus text format: the gateway's counters
// and the process's memory, so memory per connection can be read off.
// With ?gc=1 it collects garbage first (at most once a second), so heap
// figures count live memory only: the load tool asks for that.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.Gateway.Stats.WritePrometheus(w)
	fmt.Fprintf(w, "# HELP parley_widget_loads_total Requests for /widget.js (page views that loaded the script; a browser's cache hides repeats within 5 min).\n# TYPE parley_widget_loads_total counter\nparley_widget_loads_total %d\n", s.widgetLoads.Load())
	// The same gauges as the load tool's echo baseline, by the same code.
	loadtest.WriteProcessMetrics(w, r.URL.Query().Get("gc") == "1")
}
