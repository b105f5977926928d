package server

import (
	"runtime"
	"sync"
)

// procsPerCore is how many Go processors (GOMAXPROCS) `parley serve` runs
// per CPU the runtime would use by default.
//
// Go's scheduler has no priorities: with one processor per core, Badger's
// compactions (long CPU-bound goroutines, several at once) hold the
// processors for whole time slices while the turns that arrived meanwhile
// wait in the run queue, up to seconds on two cores. With more processors
// than cores the kernel shares the cores instead, and it runs a thread
// that woke from a wait (a turn) before one that has been computing (a
// compaction). On two cores at 5,000 visitors × 1 msg/s that took the ack
// p99 from 1.6 s to about 0.2 s and the server from 4,500 acked turns/s
// (saturated) to all 5,000 (README, Performance).
const procsPerCore = 8

// oversubscribe sets GOMAXPROCS to procsPerCore times the default unless
// the operator set GOMAXPROCS, and returns the value in force. The default
// already follows a container's CPU limit; setting it stops the runtime
// from following later changes of that limit, which a restart picks up.
// A process that serves more than once (tests) sets the same value each
// time.
func oversubscribe(getenv func(string) string) int {
	if getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	n := procsPerCore * defaultProcs()
	runtime.GOMAXPROCS(n)
	return n
}

// defaultProcs is GOMAXPROCS as the runtime chose it, before oversubscribe.
var defaultProcs = sync.OnceValue(func() int { return runtime.GOMAXPROCS(0) })
