package widget

import (
	"maps"
	"sync/atomic"
)

// Readers of the counters by reason, for the server's metrics collector
// (server/metrics), so this package needs no metrics library.

// RefusedByReason returns the refused handshakes per reason.
func (s *Stats) RefusedByReason() map[string]int64 { return byName(refusedReasons[:], s.refused[:]) }

// ClosedByReason returns the sockets a protection closed per reason.
func (s *Stats) ClosedByReason() map[string]int64 { return byName(closedReasons[:], s.closed[:]) }

// StartsRefusedByReason returns the hellos whose new visitor or session a
// rate limit refused, per reason.
func (s *Stats) StartsRefusedByReason() map[string]int64 {
	return byName(startRefusedReasons[:], s.starts[:])
}

// byName pairs names with the counters in the same order.
func byName(names []string, counts []atomic.Int64) map[string]int64 {
	out := make(map[string]int64, len(names))
	for i, n := range names {
		out[n] = counts[i].Load()
	}
	return out
}

// ErrorsByCode returns the error frames sent per code.
func (s *Stats) ErrorsByCode() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.errors)
}

// StoreWrites returns the latency histogram of the turns' store writes:
// cumulative counts per upper bound in seconds, the count and the sum in
// seconds.
func (s *Stats) StoreWrites() (buckets map[float64]uint64, count uint64, sum float64) {
	return s.writes.read()
}

// SessionStarts returns the latency histogram of the new sessions' store
// writes, as StoreWrites.
func (s *Stats) SessionStarts() (buckets map[float64]uint64, count uint64, sum float64) {
	return s.begins.read()
}

// TurnWaits returns the histogram of how long a frame, once read, waited
// for a worker to start its turn, as StoreWrites.
func (s *Stats) TurnWaits() (buckets map[float64]uint64, count uint64, sum float64) {
	return s.waits.read()
}
