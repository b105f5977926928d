//go:build unix

package loadtest

import (
	"strconv"
	"syscall"
)

// fileLimit describes the process's open-file limit.
func fileLimit() string {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return "unknown"
	}
	return "RLIMIT_NOFILE " + strconv.FormatUint(rl.Cur, 10)
}

// FileLimit returns the process's open-file limit, or 0 if unknown.
func FileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 0
	}
	return int(rl.Cur)
}
