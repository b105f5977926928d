//go:build !unix

package storage

// privateUmask does nothing where there is no umask.
func privateUmask() {}
