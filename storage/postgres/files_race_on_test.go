//go:build race

package postgres_test

// raceDetector: under the race detector sync.Pool drops buffers at
// random, so allocation figures say nothing.
const raceDetector = true
