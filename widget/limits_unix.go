//go:build unix

package widget

import "syscall"

// defaultMaxConns is the open-file limit less 512 descriptors kept for the
// store's files and for accepting the sockets that get a 503. An unlimited
// (or absurdly high) limit counts as 10,000 connections.
func defaultMaxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<24 {
		return 10000
	}
	return max(int(rl.Cur)-512, 64)
}
