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
