package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// startCounts adds new sessions to the usage counters (u/) and the
// funnel's start shard (uf/ uh/, funnel_counts.go) behind their starts.
// StartSession writes a mark (uq/{session}: what the counters need of the
// session as it started) in its own transaction and reads no counter, so
// the starts of different visitors neither conflict nor wait for one
// another. The marks are counted together, one read-modify-write per
// counter for many sessions: a moment later (countDelay), and first by
// every read that needs the counters exact (Store.settle) and by an erase.
// Open counts the marks a crash left.
type startCounts struct {
	s *Store

	mu      sync.Mutex
	pending map[string]startMark // committed, not yet counted
	wake    chan struct{}

	countMu sync.Mutex // one count at a time
	stop    chan struct{}
	done    chan struct{}
}

// countDelay is how long new sessions wait to be counted together.
const countDelay = time.Second

// startMark is what the counters need of a session as it started.
type startMark struct {
	Site      string    `json:"s"`
	Bot       string    `json:"b"`
	Version   string    `json:"v"`
	Channel   string    `json:"c"`
	StartedAt time.Time `json:"t"`
	Reached   []string  `json:"r,omitempty"`
	Goals     []string  `json:"g,omitempty"`
}

func markOf(s *Session) startMark {
	return startMark{Site: s.Site, Bot: s.Bot, Version: s.Version, Channel: s.Channel, StartedAt: s.StartedAt,
		Reached: slices.Clone(s.State.Reached), Goals: slices.Clone(s.State.Goals)}
}

// session is the part of the session the counters read.
func (m *startMark) session() *Session {
	s := &Session{Site: m.Site, Bot: m.Bot, Version: m.Version, Channel: m.Channel, StartedAt: m.StartedAt}
	s.State.Reached, s.State.Goals = m.Reached, m.Goals
	return s
}

func startMarkKey(sid string) []byte { return key("uq", sid) }

func newStartCounts(s *Store) *startCounts {
	c := &startCounts{s: s, pending: map[string]startMark{}, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// add notes a committed start for counting.
func (c *startCounts) add(sid string, m startMark) {
	c.mu.Lock()
	c.pending[sid] = m
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *startCounts) run() {
	defer close(c.done)
	gathering(c.wake, c.stop, countDelay, func() { // indexer.go
		if err := c.count(context.Background()); err != nil {
			c.s.logError("storage: count new sessions", err)
		}
	})
}

// close stops the counting and counts what is pending.
func (c *startCounts) close() error {
	close(c.stop)
	<-c.done
	return c.count(context.Background())
}

// count adds every pending start to the counters and deletes its mark, in
// transactions of a bounded number of sessions. On an error the sessions
// not counted stay pending. A read-only store (nil) has none.
func (c *startCounts) count(ctx context.Context) error {
	if c == nil {
		return nil
	}
	c.countMu.Lock()
	defer c.countMu.Unlock()
	for {
		c.mu.Lock()
		batch := make(map[string]startMark, min(len(c.pending), c.s.deleteBatch()))
		for sid, m := range c.pending {
			if len(batch) == c.s.deleteBatch() {
				break
			}
			batch[sid] = m
		}
		c.mu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		if err := c.s.countStarts(ctx, batch); err != nil {
			return err
		}
		c.mu.Lock()
		for sid := range batch {
			delete(c.pending, sid)
		}
		c.mu.Unlock()
	}
}

// countStarts adds the sessions of marks to the counters and deletes
// their marks, in one transaction.
func (s *Store) countStarts(ctx context.Context, marks map[string]startMark) error {
	usage := map[string]uint64{}
	funnel := funnelTally{}
	for _, m := range marks {
		sess := m.session()
		usage[string(usageKeyOf(sess))]++
		funnel.add(sess, 1)
	}
	// Bulk.Close adds to the same counters.
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	err := s.updateAnyway(ctx, func(txn *badger.Txn) error {
		if err := addUsage(txn, usage); err != nil { // usage.go
			return err
		}
		if err := funnel.write(txn, shardStart); err != nil {
			return err
		}
		for sid := range marks {
			if err := txn.Delete(startMarkKey(sid)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: count new sessions: %w", err)
	}
	return nil
}

// recoverStarts notes the marks a crash left (or a backup loaded) for
// counting.
func (s *Store) recoverStarts() error {
	prefix := []byte("uq/")
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			sid := string(it.Item().Key()[len(prefix):])
			var m startMark
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &m) }); err != nil {
				return fmt.Errorf("%s: %w", it.Item().Key(), err)
			}
			s.counts.add(sid, m)
		}
		return nil
	})
}
