package storage_test

import (
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
)

// TestContract_Funnel runs the funnel's contract suite on the Badger
// engine, its fold held back so that the funnel reads turns not folded
// yet.
func TestContract_Funnel(t *testing.T) {
	contract.TestFunnel(t, func(tb testing.TB) contract.FunnelEngine {
		s, err := storage.Open(tb.TempDir(), storage.Options{IndexDelay: time.Hour})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}
