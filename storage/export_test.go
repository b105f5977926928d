package storage

import (
	"context"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

// DB gives storage's external tests the Badger handle, to plant and look
// for raw keys; it folds the committed turns first (indexer.go), so what
// they read is as exact as the store's own reads.
func (s *Store) DB() *badger.DB {
	if err := s.settle(context.Background()); err != nil {
		s.logError("storage: fold pending turns", err)
	}
	return s.db
}

// DieWithoutFolding closes the store as a killed process leaves it: the
// committed turns not folded (fold_test.go).
func DieWithoutFolding(t *testing.T, s *Store) { dieWithoutFolding(t, s) }

// BuildFunnelCounts is BuildIndexes's share for the funnel's counters
// (funnel_counts.go): how many sessions it counted, 0 when none was due.
func (s *Store) BuildFunnelCounts(ctx context.Context) (int, error) { return s.buildFunnelCounts(ctx) }

// PendingDeltas counts the turns committed and not folded yet, without
// folding them.
func (s *Store) PendingDeltas() int {
	n := 0
	s.db.View(func(txn *badger.Txn) error {
		n = len(keysIn(txn, []byte("d/")))
		return nil
	})
	return n
}
