package postgres_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestContract_Gaps runs the Knowledge gaps contract suite on PostgreSQL:
// the report from its counters (gapcount.go) against the model, and
// parley check's recount.
func TestContract_Gaps(t *testing.T) {
	contract.TestGaps(t, func(tb testing.TB) contract.GapsEngine {
		s, err := postgres.Open(context.Background(), postgrestest.URL(tb), postgres.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}
