//go:build unix

package loadtest

import (
	"strconv"
	"syscall"
	"time"
)

// smallReceiveBuffer is a net.Dialer Control that sets a 4 KiB receive
// buffer before the socket connects.
func smallReceiveBuffer(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
	})
	if err != nil {
		return err
	}
	return serr
}

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

// processCPU is the CPU time, user and system, this process has used.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
