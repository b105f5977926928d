//go:build !unix

package storage

import "errors"

// freeBytes is not available here: WatchDisk then watches nothing.
func freeBytes(string) (uint64, error) {
	return 0, errors.ErrUnsupported
}
