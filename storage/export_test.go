package storage

import (
	"context"

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
