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

	refused [len(refusedReasons)]atomic.Int64      // handshakes refused, by reason
	closed  [len(closedReasons)]atomic.Int64       // sockets closed by a protection, by reason
	starts  [len(startRefusedReasons)]atomic.Int64 // hellos whose new session was refused, by reason

	mu     sync.Mutex
	errors map[string]int64

	// store write latency histogram (seconds)
	writeBuckets [len(writeBounds)]atomic.Int64
	writeCount   atomic.Int64
	writeSumNS   atomic.Int64
}

// Why a handshake was refused, in the order of Stats.refused.
var refusedReasons = [...]string{refusedUnknownSite, refusedOrigin, refusedShutdown, refusedCapacity, refusedPerIP}

// Why a protection closed a socket, in the order of Stats.closed.
const (
	closedRateLimit    = iota // 1008 after RateLimitClose refused frames
	closedHelloTimeout        // 1008, no hello within HandshakeTimeout
	closedNoPong              // a ping unanswered within PongTimeout (dropped)
	closedIdle                // nothing read within IdleTimeout (dropped)
	closedSlow                // 1013 queue full, or a write timed out
	closedErased              // 4001 the visitor's data was erased
)

var closedReasons = [...]string{"rate_limit", "hello_timeout", "no_pong", "idle", "slow", "erased"}

func (s *Stats) countRefused(reason string) {
	for i, r := range refusedReasons {
		if r == reason {
			s.refused[i].Add(1)
		}
	}
}

func (s *Stats) countClosed(reason int) { s.closed[reason].Add(1) }

func (s *Stats) countStartRefused(reason string) {
	for i, r := range startRefusedReasons {
		if r == reason {
			s.starts[i].Add(1)
		}
	}
}

// StartsRefused returns how many new sessions were refused for reason
// (visitors_per_ip, sessions_per_ip or sessions_per_visitor).
func (s *Stats) StartsRefused(reason string) int64 {
	for i, r := range startRefusedReasons {
		if r == reason {
			return s.starts[i].Load()
		}
	}
	return 0
}

// Refused returns how many WebSocket handshakes were refused for reason:
// unknown_site (404), origin_not_allowed (403), shutting_down, capacity
// or per_ip (503).
func (s *Stats) Refused(reason string) int64 {
	for i, r := range refusedReasons {
		if r == reason {
			return s.refused[i].Load()
		}
	}
	return 0
}

// Closed returns how many sockets a protection closed for reason
// (rate_limit, hello_timeout, no_pong, idle, slow or erased).
func (s *Stats) Closed(reason string) int64 {
	for i, r := range closedReasons {
		if r == reason {
			return s.closed[i].Load()
		}
	}
	return 0
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
	counter("parley_slow_clients_dropped_total", "Connections dropped because their send queue filled or a write timed out.", s.SlowDropped.Load())

	fmt.Fprint(w, "# HELP parley_connections_refused_total WebSocket handshakes refused (404, 403, 503), by reason.\n# TYPE parley_connections_refused_total counter\n")
	for i, r := range refusedReasons {
		fmt.Fprintf(w, "parley_connections_refused_total{reason=%q} %d\n", r, s.refused[i].Load())
	}
	fmt.Fprint(w, "# HELP parley_connections_closed_total Sockets closed by a protection, by reason.\n# TYPE parley_connections_closed_total counter\n")
	for i, r := range closedReasons {
		fmt.Fprintf(w, "parley_connections_closed_total{reason=%q} %d\n", r, s.closed[i].Load())
	}

	fmt.Fprint(w, "# HELP parley_starts_refused_total Hellos whose new visitor or session a rate limit refused, by reason.\n# TYPE parley_starts_refused_total counter\n")
	for i, r := range startRefusedReasons {
		fmt.Fprintf(w, "parley_starts_refused_total{reason=%q} %d\n", r, s.starts[i].Load())
	}

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
