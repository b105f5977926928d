package postgres_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestContract_Funnel runs the funnel's contract suite on PostgreSQL: the
// counters of every writer (start, turns, erase, retention, identify's
// merges) against the model, and parley check's recount.
func TestContract_Funnel(t *testing.T) {
	contract.TestFunnel(t, func(tb testing.TB) contract.FunnelEngine {
		s, err := postgres.Open(context.Background(), postgrestest.URL(tb), postgres.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}
