package storage_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
)

func TestContract_Turn(t *testing.T) {
	contract.TestTurn(t, func(tb testing.TB) contract.TurnEngine {
		s, err := storage.Open(tb.TempDir(), storage.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		// After each test, the store's records and indexes agree.
		tb.Cleanup(func() { assertSound(tb, s) })
		return s
	})
}

func TestContract_OutboxWrite(t *testing.T) {
	contract.TestOutboxWrite(t, func(tb testing.TB) (contract.OutboxWriteEngine, contract.OutboxReader) {
		s, _ := MustOpen(tb)
		return s, func(ctx context.Context, ep string) ([]storage.OutboxEntry, error) {
			return s.Outbox(ctx, ep, "", 1000)
		}
	})
}

func TestContract_Usage(t *testing.T) {
	contract.TestUsage(t, func(tb testing.TB) contract.UsageEngine {
		s, _ := MustOpen(tb)
		return s
	})
}
