package storage_test

import (
	"testing"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
)

func TestContract_Agents(t *testing.T) {
	contract.TestAgents(t, func(tb testing.TB) contract.AgentEngine { s, _ := MustOpen(tb); return s })
}

func TestContract_Inbox(t *testing.T) {
	contract.TestInbox(t, func(tb testing.TB) contract.InboxEngine { s, _ := MustOpen(tb); return s })
}

var _ contract.InboxEngine = (*storage.Store)(nil)
