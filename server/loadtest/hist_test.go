package loadtest

import (
	"math"
	"testing"
	"time"
)

func TestHist(t *testing.T) {
	t.Run("Buckets", func(t *testing.T) {
		prev := -1
		for v := uint64(0); v < 1<<22; v += 1 + v/1000 {
			i := hIndex(v)
			if i < prev {
				t.Fatalf("index(%d) = %d < %d", v, i, prev)
			}
			if u := hUpper(i); u < v || float64(u-v) > 0.004*float64(v)+1 {
				t.Fatalf("value %d in bucket %d whose upper bound is %d", v, i, u)
			}
			prev = i
		}
	})
	t.Run("Quantiles", func(t *testing.T) {
		var h Hist
		for i := 1; i <= 1000; i++ {
			h.Observe(time.Duration(i) * time.Millisecond)
		}
		s := h.Summary()
		for _, c := range []struct{ got, want float64 }{{s.P50, 500}, {s.P95, 950}, {s.P99, 990}, {s.Max, 1000}} {
			if math.Abs(c.got-c.want) > c.want*0.005 {
				t.Errorf("got %v, want %v (summary %+v)", c.got, c.want, s)
			}
		}
		if s.Count != 1000 {
			t.Errorf("count %d", s.Count)
		}
	})
}
