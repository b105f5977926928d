package postgres_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// mustOpen opens a store on a database of the test's own.
func mustOpenTurn(tb testing.TB) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), postgrestest.URL(tb), postgres.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestContract_Turn(t *testing.T) {
	contract.TestTurn(t, func(tb testing.TB) contract.TurnEngine { return mustOpenTurn(tb) })
}
