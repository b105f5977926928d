package postgres_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestContract_People runs the people suites (agents, inbox, identify and
// profiles) on PostgreSQL, each test on a database of its own.
func TestContract_People(t *testing.T) {
	contract.TestPeople(t, func(tb testing.TB) contract.PeopleEngine {
		tb.Helper()
		s, err := postgres.Open(context.Background(), postgrestest.URL(tb), postgres.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}

var _ contract.PeopleEngine = (*postgres.Store)(nil)

// TestContract_IdentifyFiles runs the merge of files on PostgreSQL.
func TestContract_IdentifyFiles(t *testing.T) {
	contract.TestIdentifyFiles(t, func(tb testing.TB) (contract.IdentifyFilesEngine, contract.FilePutter) {
		tb.Helper()
		s, err := postgres.Open(context.Background(), postgrestest.URL(tb), postgres.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s, postgres.NewFiles(s)
	})
}
