//go:build !race

package widget_test

const raceEnabled = false
