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
