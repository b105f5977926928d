//go:build race

package contract

// raceEnabled: the race detector slows every test several times, so the
// largest model tests run a sample of their cases under it.
const raceEnabled = true
