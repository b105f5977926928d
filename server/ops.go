package server

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"time"
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
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.Gateway.Stats.WritePrometheus(w)
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	gauges := []struct {
		name, help string
		v          uint64
	}{
		{"parley_go_heap_inuse_bytes", "Bytes in in-use heap spans.", m.HeapInuse},
		{"parley_go_stack_inuse_bytes", "Bytes in goroutine stacks.", m.StackInuse},
		{"parley_go_sys_bytes", "Bytes obtained from the OS by the Go runtime.", m.Sys},
		{"parley_go_goroutines", "Goroutines that exist now.", uint64(runtime.NumGoroutine())},
	}
	for _, g := range gauges {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", g.name, g.help, g.name, g.name, g.v)
	}
}
