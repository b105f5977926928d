package postgres_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestContract_Admin runs the admin views' contract suite on PostgreSQL.
func TestContract_Admin(t *testing.T) {
	contract.TestAdmin(t, func(tb testing.TB) contract.AdminEngine {
		s, err := postgres.Open(context.Background(), postgrestest.URL(tb), postgres.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}
