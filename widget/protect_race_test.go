//go:build race

package widget_test

// raceEnabled: the race detector makes stacks larger than in production.
const raceEnabled = true
