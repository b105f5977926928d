package storage_test

import (
	"testing"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
)

// openPeople opens a Badger store for the people suites, which Verify
// finds sound when the test ends.
func openPeople(tb testing.TB) *storage.Store {
	s, _ := MustOpen(tb)
	tb.Cleanup(func() { assertSound(tb, s) })
	return s
}

// TestContract_People runs the people suites (agents, inbox, identify and
// profiles) on the Badger engine.
func TestContract_People(t *testing.T) {
	contract.TestPeople(t, func(tb testing.TB) contract.PeopleEngine { return openPeople(tb) })
}

// TestContract_IdentifyFiles runs the merge of files on the Badger engine.
func TestContract_IdentifyFiles(t *testing.T) {
	contract.TestIdentifyFiles(t, func(tb testing.TB) (contract.IdentifyFilesEngine, contract.FilePutter) {
		s := openPeople(tb)
		return s, storage.NewFiles(s)
	})
}

var _ contract.PeopleEngine = (*storage.Store)(nil)

// TestContract_IdentifyOverview runs the identify model against the
// admin views on the Badger engine. (Not Verified: the admin fixture's
// turns name client IDs its messages do not carry.)
func TestContract_IdentifyOverview(t *testing.T) {
	contract.TestIdentifyOverview(t, func(tb testing.TB) contract.IdentifyOverviewEngine {
		s, _ := MustOpen(tb)
		return s
	})
}

// TestContract_PeopleExport runs the export of people records on the
// Badger engine.
func TestContract_PeopleExport(t *testing.T) {
	contract.TestPeopleExport(t, func(tb testing.TB) contract.PeopleExportEngine { return openPeople(tb) })
}
