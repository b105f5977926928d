package postgres_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// openPeople opens a PostgreSQL store on a database of the test's own.
func openPeople(tb testing.TB) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), postgrestest.URL(tb), postgres.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestContract_Agents(t *testing.T) {
	contract.TestAgents(t, func(tb testing.TB) contract.AgentEngine { return openPeople(tb) })
}

func TestContract_Inbox(t *testing.T) {
	contract.TestInbox(t, func(tb testing.TB) contract.InboxEngine { return openPeople(tb) })
}
