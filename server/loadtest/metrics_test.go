package loadtest

import "testing"

func TestCPUOf(t *testing.T) {
	before := metrics{cpuSeconds: 10}
	after := metrics{cpuSeconds: 13}
	c := cpuOf(before, after, 10000)
	if c == nil || c.Seconds != 3 || c.PerAckedMicros != 300 {
		t.Errorf("cpuOf = %+v, want 3 s and 300 µs per acked message", c)
	}
	if c := cpuOf(before, after, 0); c == nil || c.PerAckedMicros != 0 {
		t.Errorf("idle run: cpuOf = %+v, want seconds only", c)
	}
	// A server that does not report CPU time (an older Parley, not Linux)
	// gives no figure rather than a wrong one.
	if c := cpuOf(metrics{}, after, 10000); c != nil {
		t.Errorf("without a before figure: %+v, want nil", c)
	}
	if c := cpuOf(nil, nil, 10000); c != nil {
		t.Errorf("without scrapes: %+v, want nil", c)
	}
}

// TestServerLatencyOf: the bucket bounds that hold half and 99 % of what a
// server histogram counted during the run (after minus before).
func TestServerLatencyOf(t *testing.T) {
	b := func(le string) string { return turnWait + `_bucket{le="` + le + `"}` }
	before := metrics{turnWait + "_count": 100, b("0.001"): 100, b("0.01"): 100, b("1"): 100, b("+Inf"): 100}
	// 1,000 more: 600 within 1 ms, 390 more within 10 ms, 10 over 1 s.
	after := metrics{turnWait + "_count": 1100, b("0.001"): 700, b("0.01"): 1090, b("1"): 1090, b("+Inf"): 1100}
	l := serverLatencyOf(before, after, turnWait)
	if l == nil || l.Count != 1000 || l.P50UpTo != 1 || l.P99UpTo != 10 {
		t.Errorf("serverLatencyOf = %+v, want 1,000 counted, p50 ≤ 1 ms, p99 ≤ 10 ms", l)
	}
	after[b("0.01")], after[b("1")] = 1080, 1080 // 20 over 1 s: the p99 is past the last bound
	if l := serverLatencyOf(before, after, turnWait); l == nil || l.P99UpTo != 0 {
		t.Errorf("with 2 %% past 1 s: %+v, want p99 0 (past the last bound)", l)
	}
	// The echo has no such histogram.
	if l := serverLatencyOf(metrics{}, metrics{cpuSeconds: 1}, turnWait); l != nil {
		t.Errorf("without the histogram: %+v, want nil", l)
	}
}
