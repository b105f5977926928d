package storage_test

import (
	"testing"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
)

// openPeople opens a Badger store in a temp dir for the contract suite.
func openPeople(tb testing.TB) contract.AgentEngine {
	s, _ := MustOpen(tb)
	return s
}

func TestContract_People(t *testing.T) {
	contract.TestAgents(t, openPeople)
}

var _ contract.AgentEngine = (*storage.Store)(nil)
