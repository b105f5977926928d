package postgres_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestContract_People runs the people suites (agents, inbox, identify and
// profiles) on PostgreSQL, each test on a database of its own that
// parley check finds sound at its end (mustOpenTurn).
func TestContract_People(t *testing.T) {
	contract.TestPeople(t, func(tb testing.TB) contract.PeopleEngine { return mustOpenTurn(tb) })
}

// TestContract_IdentifyFiles runs the merge of files on PostgreSQL.
func TestContract_IdentifyFiles(t *testing.T) {
	contract.TestIdentifyFiles(t, func(tb testing.TB) (contract.IdentifyFilesEngine, contract.FilePutter) {
		s := mustOpenTurn(tb)
		return s, postgres.NewFiles(s)
	})
}

var _ contract.PeopleEngine = (*postgres.Store)(nil)

// TestContract_IdentifyOverview runs the identify model against the
// admin views on PostgreSQL. (Not Verified: the admin fixture's turns
// name client IDs its messages do not carry.)
func TestContract_IdentifyOverview(t *testing.T) {
	contract.TestIdentifyOverview(t, func(tb testing.TB) contract.IdentifyOverviewEngine {
		tb.Helper()
		s, err := postgres.Open(context.Background(), postgrestest.URL(tb), postgres.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}

// TestContract_PeopleExport runs the export of people records on
// PostgreSQL.
func TestContract_PeopleExport(t *testing.T) {
	contract.TestPeopleExport(t, func(tb testing.TB) contract.PeopleExportEngine { return mustOpenTurn(tb) })
}
