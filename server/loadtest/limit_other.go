//go:build !unix

package loadtest

import (
	"syscall"
	"time"
)

func smallReceiveBuffer(string, string, syscall.RawConn) error { return nil }

func fileLimit() string { return "unknown" }

// FileLimit returns the process's open-file limit, or 0 if unknown.
func FileLimit() int { return 0 }

func processCPU() (time.Duration, bool) { return 0, false }
