package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
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
// With ?gc=1 it collects garbage first (at most once a second), so heap
// figures count live memory only: the load tool asks for that.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.Gateway.Stats.WritePrometheus(w)
	WriteProcessMetrics(w, r.URL.Query().Get("gc") == "1")
}

var lastGC struct {
	sync.Mutex
	at time.Time
}

// WriteProcessMetrics writes the Go runtime's and the process's memory,
// goroutines and open files as parley_* gauges; the load tool's echo
// baseline serves the same. If gc is set it first collects garbage, at
// most once a second.
func WriteProcessMetrics(w io.Writer, gc bool) {
	if gc {
		lastGC.Lock()
		if time.Since(lastGC.at) >= time.Second {
			runtime.GC()
			lastGC.at = time.Now()
		}
		lastGC.Unlock()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	gauges := []struct {
		name, help string
		v          uint64
	}{
		{"parley_go_heap_inuse_bytes", "Bytes in in-use heap spans.", m.HeapInuse},
		{"parley_go_heap_alloc_bytes", "Bytes of allocated heap objects, live or not yet collected.", m.HeapAlloc},
		{"parley_go_stack_inuse_bytes", "Bytes in goroutine stacks.", m.StackInuse},
		{"parley_go_sys_bytes", "Bytes obtained from the OS by the Go runtime.", m.Sys},
		{"parley_go_goroutines", "Goroutines that exist now.", uint64(runtime.NumGoroutine())},
		{"parley_go_gc_cycles", "Garbage collections completed.", uint64(m.NumGC)},
	}
	for _, g := range gauges {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", g.name, g.help, g.name, g.name, g.v)
	}
	// Linux only: resident memory and open files, from /proc.
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		var size, resident uint64
		if _, err := fmt.Sscan(string(b), &size, &resident); err == nil {
			const name = "parley_process_resident_bytes"
			fmt.Fprintf(w, "# HELP %s Resident set size of the process.\n# TYPE %s gauge\n%s %d\n", name, name, name, resident*uint64(os.Getpagesize()))
		}
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		const name = "parley_process_open_fds"
		fmt.Fprintf(w, "# HELP %s Open file descriptors.\n# TYPE %s gauge\n%s %d\n", name, name, name, len(fds))
	}
}
