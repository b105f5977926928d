//go:build unix

package storage

import (
	"sync"
	"syscall"
)

var umaskOnce sync.Once

// privateUmask makes every file and directory this process creates from
// now on private to its user. Badger creates its files with mode 0666 and
// no option to change it, so the umask is the only way its tables, value
// logs and manifest come out 0600, whatever the mode of the directory
// they are in. It is the whole process's, once: nothing Parley writes is
// for other users.
func privateUmask() {
	umaskOnce.Do(func() {
		old := syscall.Umask(0o077)
		syscall.Umask(old | 0o077)
	})
}
