//go:build race

package storage

// raceEnabled: the race detector slows the store about twentyfold; the
// longest model tests check a sample under it.
const raceEnabled = true
