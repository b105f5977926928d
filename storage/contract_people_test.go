package storage_test

import (
	"testing"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
)

// TestContract_People runs the people suites (agents, inbox, identify and
// profiles) on the Badger engine.
func TestContract_People(t *testing.T) {
	contract.TestPeople(t, func(tb testing.TB) contract.PeopleEngine {
		s, _ := MustOpen(tb)
		return s
	})
}

var _ contract.PeopleEngine = (*storage.Store)(nil)

// TestContract_IdentifyFiles runs the merge of files on the Badger engine.
func TestContract_IdentifyFiles(t *testing.T) {
	contract.TestIdentifyFiles(t, func(tb testing.TB) (contract.IdentifyFilesEngine, contract.FilePutter) {
		s, _ := MustOpen(tb)
		return s, storage.NewFiles(s)
	})
}
