package storage_test

import (
	"testing"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
)

// TestContract_Admin runs the admin views' contract suite on the Badger
// engine.
func TestContract_Admin(t *testing.T) {
	contract.TestAdmin(t, func(tb testing.TB) contract.AdminEngine {
		s, err := storage.Open(tb.TempDir(), storage.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}
