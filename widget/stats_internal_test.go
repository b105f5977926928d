package widget

import (
	"testing"
	"time"
)

// TestLatency_Cumulative: /metrics gets Prometheus's cumulative buckets,
// each counting what is at or under its bound, from one add an
// observation.
func TestLatency_Cumulative(t *testing.T) {
	var h latency
	for _, d := range []time.Duration{300 * time.Microsecond, 3 * time.Millisecond, 3 * time.Millisecond, 2 * time.Second} {
		h.observe(d)
	}
	buckets, count, sum := h.read()
	want := map[float64]uint64{0.0005: 1, 0.001: 1, 0.0025: 1, 0.005: 3, 0.01: 3, 0.25: 3, 1: 3}
	for b, n := range want {
		if buckets[b] != n {
			t.Errorf("bucket ≤ %g s: %d, want %d", b, buckets[b], n)
		}
	}
	if count != 4 || sum < 2.006 || sum > 2.0064 {
		t.Errorf("count %d, sum %g s; want 4 and 2.0063", count, sum)
	}
}
