package storage_test

import (
	"testing"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
)

// TestContract_Gaps runs the Knowledge gaps contract suite on the Badger
// engine.
func TestContract_Gaps(t *testing.T) {
	contract.TestGaps(t, func(tb testing.TB) contract.GapsEngine {
		s, err := storage.Open(tb.TempDir(), storage.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}
