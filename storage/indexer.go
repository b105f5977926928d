package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// indexer folds the turns' deltas (turnlog.go) into the session records,
// the visitors' rollups and the admin indexes, behind the turns: a session
// that took many turns since the last fold is rewritten once. Readers of
// those records call Store.settle first, which folds whatever is pending,
// so every answer is exact; a crash leaves the deltas, which Open folds.
type indexer struct {
	s     *Store
	delay time.Duration // how long pending turns wait to be folded together

	mu    sync.Mutex
	dirty map[string]struct{} // sessions with deltas not yet folded
	wake  chan struct{}

	foldMu sync.Mutex // one fold at a time
	stop   chan struct{}
	done   chan struct{}
}

// defaultIndexDelay is how long the indexer lets turns gather before it
// folds them: long enough that a busy session is rewritten a few times a
// second, not on every turn; what is pending is folded at once when read.
const defaultIndexDelay = 200 * time.Millisecond

// foldBatch is how many sessions one fold transaction rewrites.
const foldBatch = 64

func newIndexer(s *Store, delay time.Duration) *indexer {
	x := &indexer{s: s, delay: delay, dirty: map[string]struct{}{}, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go x.run()
	return x
}

// mark notes the sessions of a committed batch as pending.
func (x *indexer) mark(batch []*turnWrite) {
	x.mu.Lock()
	for _, w := range batch {
		if w.delta != nil {
			x.dirty[w.session] = struct{}{}
		}
	}
	x.mu.Unlock()
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

func (x *indexer) run() {
	defer close(x.done)
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-x.wake:
		case <-x.stop:
			return
		}
		t.Reset(x.delay)
		select {
		case <-t.C:
		case <-x.stop:
			t.Stop()
			return
		}
		if err := x.fold(context.Background()); err != nil {
			x.s.logError("storage: fold pending turns", err)
		}
	}
}

// close stops the indexer and folds what is pending.
func (x *indexer) close() error {
	close(x.stop)
	<-x.done
	return x.fold(context.Background())
}

// fold writes every pending session's deltas into the records and indexes.
// On an error the sessions it did not finish stay pending.
func (x *indexer) fold(ctx context.Context) error {
	x.foldMu.Lock()
	defer x.foldMu.Unlock()
	x.mu.Lock()
	if len(x.dirty) == 0 {
		x.mu.Unlock()
		return nil
	}
	pending := make([]string, 0, len(x.dirty))
	for sid := range x.dirty {
		pending = append(pending, sid)
	}
	clear(x.dirty)
	x.mu.Unlock()
	for len(pending) > 0 {
		n := min(len(pending), foldBatch)
		if err := x.s.foldSessions(ctx, pending[:n]); err != nil {
			x.mu.Lock()
			for _, sid := range pending {
				x.dirty[sid] = struct{}{}
			}
			x.mu.Unlock()
			return err
		}
		pending = pending[n:]
	}
	return nil
}

// settle folds every turn committed so far into the records and indexes,
// so a read that follows is exact. A read-only store has nothing pending.
func (s *Store) settle(ctx context.Context) error {
	if s.idx == nil {
		return nil
	}
	if err := s.idx.fold(ctx); err != nil {
		return fmt.Errorf("storage: fold pending turns: %w", err)
	}
	return nil
}

// foldSessions folds the deltas of the given sessions in one transaction.
func (s *Store) foldSessions(ctx context.Context, sids []string) error {
	return s.updateAnyway(ctx, func(txn *badger.Txn) error {
		visitors := map[string]*foldVisitor{}
		for _, sid := range sids {
			if err := foldSession(txn, sid, visitors); err != nil {
				return fmt.Errorf("session %s: %w", sid, err)
			}
		}
		for _, fv := range visitors {
			if fv.missing {
				continue
			}
			if err := putJSON(txn, key("v", fv.v.ID), &fv.v); err != nil {
				return err
			}
			if err := indexSeen(txn, fv.seen, &fv.v); err != nil { // retention.go
				return err
			}
		}
		return nil
	})
}

// foldVisitor is a visitor read once per fold transaction.
type foldVisitor struct {
	v       Visitor
	seen    time.Time // LastSeenAt as stored
	missing bool
}

// foldSession applies one session's deltas, in order, to its record, its
// visitor (read into visitors once) and its index entries, and deletes
// them. The deltas of a session that is gone (erased while a turn was in
// flight) are dropped with whatever the turns wrote.
func foldSession(txn *badger.Txn, sid string, visitors map[string]*foldVisitor) error {
	prefix := deltaPrefix(sid)
	stored, err := getSession(txn, sid, nil) // hostvars.go
	switch {
	case errors.Is(err, ErrNotFound):
		for _, p := range [][]byte{prefix, key("m", sid, ""), key("c", sid, ""), hostVarsPrefix(sid)} {
			if err := deleteIn(txn, p); err != nil {
				return err
			}
		}
		return nil
	case err != nil:
		return err
	}
	old := *stored
	fv := visitors[old.VisitorID]
	if fv == nil {
		fv = &foldVisitor{}
		switch err := getJSON(txn, key("v", old.VisitorID), &fv.v); {
		case errors.Is(err, ErrNotFound):
			fv.missing = true
		case err != nil:
			return err
		}
		fv.seen = fv.v.LastSeenAt
		visitors[old.VisitorID] = fv
	}
	var v *Visitor
	if !fv.missing {
		v = &fv.v
	}
	next := old
	next.Inputs = append([]Input(nil), old.Inputs...)
	next.Files = append([]FileRef(nil), old.Files...)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 16})
	var keys [][]byte
	for it.Rewind(); it.Valid() && err == nil; it.Next() {
		keys = append(keys, it.Item().KeyCopy(nil))
		err = it.Item().Value(func(b []byte) error {
			d, err := decodeDelta(b)
			if err != nil {
				return err
			}
			d.applyTo(&next, v)
			return nil
		})
	}
	it.Close()
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	for _, k := range keys {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	// The host variables are under hv/ already: the turns wrote them.
	b, err := marshalSession(&next)
	if err != nil {
		return err
	}
	if err := txn.Set(key("s", sid), b); err != nil {
		return err
	}
	return indexSession(txn, &old, &next)
}

// deleteIn deletes every key under prefix in txn (a few keys: what turns
// wrote into a session erased under them).
func deleteIn(txn *badger.Txn, prefix []byte) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	var keys [][]byte
	for it.Rewind(); it.Valid(); it.Next() {
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	it.Close()
	for _, k := range keys {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// recoverTurns folds the deltas a crash left (run by Open before anything
// else writes): every session with a d/ key.
func (s *Store) recoverTurns(ctx context.Context) (int, error) {
	var sids []string
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := []byte("d/")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); {
			k := it.Item().Key()
			rest := k[len(prefix):]
			end := len(rest) - 8 - 1 // {session}/{seq}
			if end <= 0 || rest[end] != '/' {
				it.Next() // not a delta key: leave it
				continue
			}
			sid := string(rest[:end])
			sids = append(sids, sid)
			it.Seek(append(deltaPrefix(sid), 0xff))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	found := len(sids)
	for len(sids) > 0 {
		n := min(len(sids), foldBatch)
		if err := s.foldSessions(ctx, sids[:n]); err != nil {
			return 0, err
		}
		sids = sids[n:]
	}
	return found, nil
}
