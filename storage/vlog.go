package storage

import (
	"context"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// GCDiscardRatio is the share of a value-log file that must be garbage
// before CollectGarbage rewrites it (Badger's recommendation).
const GCDiscardRatio = 0.5

// CollectGarbage reclaims the disk space of deleted and overwritten values
// (file chunks, mostly: smaller values live in the LSM tree, which Badger
// compacts by itself). It rewrites value-log files while Badger finds one
// at least GCDiscardRatio garbage, and returns how many it rewrote. Space
// comes back gradually: a file is only found worth rewriting once
// compactions have counted its dead values.
func (s *Store) CollectGarbage(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		err := s.db.RunValueLogGC(GCDiscardRatio)
		switch {
		case err == nil:
			n++
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected), errors.Is(err, badger.ErrGCInMemoryMode):
			// Nothing (more) to rewrite, another GC running, or the
			// store closing: all fine for a periodic task.
			return n, nil
		default:
			return n, fmt.Errorf("storage: value-log gc: %w", err)
		}
	}
	return n, ctx.Err()
}

// reclaimAfter is how many bytes of files must have been erased before
// ReclaimSpace flushes Badger's memtables to get their space back.
const reclaimAfter = 64 << 20

// flushKey is written and dropped to make Badger flush its memtables.
var flushKey = []byte("meta/flush")

// ReclaimSpace gives the disk space of erased files back. File chunks live
// in Badger's value log, whose GC rewrites a file only once compactions
// have counted its dead values, and compactions only see a deletion once
// its memtable is flushed: with little other traffic that can take weeks.
// So once at least 64 MiB of files were erased (or with force), it flushes
// the memtables first; Badger's only way to do so from outside is
// DropPrefix (of a key kept for this), which holds writes for some
// milliseconds (update waits; an upload chunk in that window fails). Then
// it runs CollectGarbage, and returns how many value-log files it rewrote.
func (s *Store) ReclaimSpace(ctx context.Context, force bool) (int, error) {
	if n := s.erasedBytes.Load(); force || n >= reclaimAfter {
		s.erasedBytes.Add(-n)
		err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(flushKey, []byte{1}) })
		if err == nil {
			err = s.db.DropPrefix(flushKey)
		}
		if err != nil && !errors.Is(err, badger.ErrBlockedWrites) {
			return 0, fmt.Errorf("storage: reclaim space: %w", err)
		}
	}
	return s.CollectGarbage(ctx)
}
