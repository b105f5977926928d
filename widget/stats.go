package widget

import (
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

	writes latency // a turn's store write
	begins latency // a new session's store write (Gateway.begin)
	waits  latency // a frame read until a worker starts its turn (workers)
}

// latency is a histogram of durations, in seconds up to each of
// latencyBounds, for /metrics. An observation adds to one bucket (it is
// on every frame's path); read makes the counts cumulative.
type latency struct {
	buckets [len(latencyBounds)]atomic.Int64 // within each bound and over the one before
	count   atomic.Int64
	sumNS   atomic.Int64
}

var latencyBounds = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}

func (h *latency) observe(d time.Duration) {
	sec := d.Seconds()
	for i, b := range latencyBounds {
		if sec <= b {
			h.buckets[i].Add(1)
			break
		}
	}
	h.count.Add(1)
	h.sumNS.Add(int64(d))
}

// read returns the cumulative counts per upper bound in seconds, the
// count and the sum in seconds.
func (h *latency) read() (buckets map[float64]uint64, count uint64, sum float64) {
	buckets = make(map[float64]uint64, len(latencyBounds))
	var below uint64
	for i, b := range latencyBounds {
		below += uint64(h.buckets[i].Load())
		buckets[b] = below
	}
	return buckets, uint64(h.count.Load()), float64(h.sumNS.Load()) / 1e9
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

func (s *Stats) countError(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errors == nil {
		s.errors = make(map[string]int64)
	}
	s.errors[code]++
}
