package server

import (
	"runtime"
	"testing"
)

func TestOversubscribe(t *testing.T) {
	def := defaultProcs()
	t.Cleanup(func() { runtime.GOMAXPROCS(def) })

	noEnv := func(string) string { return "" }
	for range 2 { // serving again must not multiply it again
		if got := oversubscribe(noEnv); got != procsPerCore*def || runtime.GOMAXPROCS(0) != got {
			t.Fatalf("oversubscribe = %d, GOMAXPROCS %d; want %d × %d", got, runtime.GOMAXPROCS(0), procsPerCore, def)
		}
	}

	// The operator's GOMAXPROCS (which the runtime read at start) stands.
	runtime.GOMAXPROCS(3)
	set := func(k string) string {
		if k == "GOMAXPROCS" {
			return "3"
		}
		return ""
	}
	if got := oversubscribe(set); got != 3 || runtime.GOMAXPROCS(0) != 3 {
		t.Errorf("with GOMAXPROCS=3 set: oversubscribe = %d, GOMAXPROCS %d; want 3", got, runtime.GOMAXPROCS(0))
	}
}
