package loadtest

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Hist is a latency histogram in microseconds with about 0.4 % relative
// error, safe for concurrent use: values below 512 µs have buckets of their
// own, larger ones 256 buckets per power of two, up to about 12 days.
type Hist struct {
	counts [hBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Uint64
}

const (
	hLinear  = 512
	hPerPow  = 256
	hBuckets = hLinear + 32*hPerPow
)

func hIndex(v uint64) int {
	if v < hLinear {
		return int(v)
	}
	e := bits.Len64(v) - 9 // v>>e is in [256, 512)
	if e > 32 {
		return hBuckets - 1
	}
	return e*hPerPow + int(v>>uint(e))
}

// hUpper is the largest value of bucket i.
func hUpper(i int) uint64 {
	if i < hLinear {
		return uint64(i)
	}
	e := i/hPerPow - 1
	m := uint64(i - e*hPerPow)
	return (m+1)<<uint(e) - 1
}

// Observe records one latency.
func (h *Hist) Observe(d time.Duration) {
	v := uint64(max(d.Microseconds(), 0))
	h.counts[hIndex(v)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Summary is what a report shows of a histogram, in milliseconds.
type Summary struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50Ms"`
	P95   float64 `json:"p95Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
}

// Summary reads the quantiles (each the upper bound of its bucket).
func (h *Hist) Summary() Summary {
	s := Summary{Count: h.n.Load(), Max: float64(h.max.Load()) / 1000}
	if s.Count == 0 {
		return s
	}
	q := func(p float64) float64 {
		rank := uint64(p*float64(s.Count-1)) + 1
		var seen uint64
		for i := range h.counts {
			if seen += h.counts[i].Load(); seen >= rank {
				return min(float64(hUpper(i))/1000, s.Max)
			}
		}
		return s.Max
	}
	s.P50, s.P95, s.P99 = q(.50), q(.95), q(.99)
	return s
}
