package widget

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts what the gateway does, for /metrics.
type Stats struct {
	ConnectionsOpen  atomic.Int64
	ConnectionsTotal atomic.Int64
	SessionsStarted  atomic.Int64
	SessionsResumed  atomic.Int64
	FramesIn         atomic.Int64
	FramesOut        atomic.Int64
	SlowDropped      atomic.Int64

	mu     sync.Mutex
	errors map[string]int64

	// store write latency histogram (seconds)
	writeBuckets [len(writeBounds)]atomic.Int64
	writeCount   atomic.Int64
	writeSumNS   atomic.Int64
}

var writeBounds = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}

func (s *Stats) countError(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errors == nil {
		s.errors = make(map[string]int64)
	}
	s.errors[code]++
}

func (s *Stats) observeWrite(d time.Duration) {
	sec := d.Seconds()
	for i, b := range writeBounds {
		if sec <= b {
			s.writeBuckets[i].Add(1)
		}
	}
	s.writeCount.Add(1)
	s.writeSumNS.Add(int64(d))
}

// WritePrometheus writes the counters in the Prometheus text format.
func (s *Stats) WritePrometheus(w io.Writer) {
	gauge := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	counter := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge("parley_connections_open", "WebSocket connections open now.", s.ConnectionsOpen.Load())
	counter("parley_connections_total", "WebSocket connections accepted.", s.ConnectionsTotal.Load())
	counter("parley_sessions_started_total", "Sessions started.", s.SessionsStarted.Load())
	counter("parley_sessions_resumed_total", "Sessions resumed by a hello.", s.SessionsResumed.Load())
	counter("parley_frames_in_total", "Frames received from clients.", s.FramesIn.Load())
	counter("parley_frames_out_total", "Frames sent to clients.", s.FramesOut.Load())
	counter("parley_slow_clients_dropped_total", "Connections dropped because their send queue was full.", s.SlowDropped.Load())

	fmt.Fprint(w, "# HELP parley_errors_total Error frames sent, by code.\n# TYPE parley_errors_total counter\n")
	s.mu.Lock()
	codes := make([]string, 0, len(s.errors))
	for c := range s.errors {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "parley_errors_total{code=%q} %d\n", c, s.errors[c])
	}
	s.mu.Unlock()

	const h = "parley_store_write_seconds"
	fmt.Fprintf(w, "# HELP %s Latency of store writes for conversation turns.\n# TYPE %s histogram\n", h, h)
	for i, b := range writeBounds {
		fmt.Fprintf(w, "%s_bucket{le=\"%g\"} %d\n", h, b, s.writeBuckets[i].Load())
	}
	n := s.writeCount.Load()
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", h, n, h, float64(s.writeSumNS.Load())/1e9, h, n)
}
