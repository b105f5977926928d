package storage

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Bulk loads many new visitors with their sessions and turns through
// Badger's write batches: the records, rollups, index entries and usage
// counters come out exactly as CreateSession and RecordTurn would write
// them (bulk_test.go compares both), at a fraction of the cost. It is for
// seeding demo and benchmark stores, not for live traffic: nothing is
// visible or durable before Close, and a visitor that already exists is
// overwritten. It is safe for concurrent use.
type Bulk struct {
	s  *Store
	wb *badger.WriteBatch

	mu     sync.Mutex
	usage  map[string]uint64 // usage key -> sessions started
	funnel funnelTally       // the funnel's counts of the sessions (funnel_counts.go)
}

// BulkSession is a session to load and the turns to replay on it, in order.
type BulkSession struct {
	Session *Session
	Turns   []*Turn
}

// NewBulk starts a bulk load; the caller must Close it.
func (s *Store) NewBulk() *Bulk {
	return &Bulk{s: s, wb: s.db.NewWriteBatch(), usage: map[string]uint64{}, funnel: funnelTally{}}
}

// Add loads a new visitor v with its sessions, as CreateSession for each
// session followed by RecordTurn for each of its turns. The records are
// updated in place as those calls would.
func (b *Bulk) Add(v *Visitor, sessions []BulkSession) error {
	if err := v.Validate(); err != nil {
		return err
	}
	counts := map[string]uint64{}
	funnel := funnelTally{}
	for _, bs := range sessions {
		sess := bs.Session
		if err := sess.Validate(); err != nil {
			return err
		}
		if sess.VisitorID != v.ID {
			return fmt.Errorf("storage: bulk: session %s is not visitor %s's", sess.ID, v.ID)
		}
		if sess.LastActivityAt.IsZero() {
			sess.LastActivityAt = sess.StartedAt
		}
		v.LastSeenAt = laterOf(v.LastSeenAt, sess.StartedAt)
		for _, t := range bs.Turns {
			if t.SessionID != sess.ID {
				return fmt.Errorf("storage: bulk: turn of session %s given for %s", t.SessionID, sess.ID)
			}
			if err := b.replay(sess, v, t); err != nil {
				return err
			}
		}
		if err := putNewSession(b.wb, sess); err != nil {
			return err
		}
		if err := b.wb.Set(key("vs", v.ID, sess.ID), nil); err != nil {
			return err
		}
		if err := indexSession(b.wb, nil, sess); err != nil {
			return err
		}
		counts[string(usageKeyOf(sess))]++
		funnel.add(sess, 1)
	}
	if err := setJSON(b.wb, key("v", v.ID), v); err != nil {
		return err
	}
	if err := indexSeen(b.wb, time.Time{}, v); err != nil { // retention.go
		return err
	}
	b.mu.Lock()
	for k, n := range counts {
		b.usage[k] += n
	}
	b.funnel.addTally(funnel)
	b.mu.Unlock()
	return nil
}

// AddFile loads a file of a visitor of this bulk load, stored as
// Files.Put would store it (chunks, record, the visitor's entry); it fills
// in f's Size, SHA256, ChunkSize and Chunks. Files.Put itself refuses a
// file whose visitor has no record, which a bulk load writes only at Close.
func (b *Bulk) AddFile(f *File, data []byte) error {
	if err := f.Validate(); err != nil {
		return err
	}
	// The chunks commit now, the record with the batch: a record never
	// comes before its bytes.
	n := 0
	done := make(chan error, (len(data)+FileChunkSize-1)/FileChunkSize)
	var err error
	for off := 0; off < len(data) && err == nil; off += FileChunkSize {
		err = b.s.chunks.write(f.ID, n, data[off:min(off+FileChunkSize, len(data))], func(err error) { done <- err })
		if err == nil {
			n++
		}
	}
	for range n {
		err = errors.Join(err, <-done)
	}
	if err != nil {
		return fmt.Errorf("storage: bulk: file chunks: %w", err)
	}
	sum := sha256.Sum256(data)
	f.Size, f.SHA256, f.ChunkSize, f.Chunks = int64(len(data)), hex.EncodeToString(sum[:]), FileChunkSize, n
	if err := setJSON(b.wb, fileKey(f.ID), f); err != nil {
		return err
	}
	var size [8]byte
	binary.BigEndian.PutUint64(size[:], uint64(f.Size))
	return b.wb.Set(visitorFileKey(f.VisitorID, f.ID), size[:])
}

// replay applies a turn to the in-memory session and visitor as RecordTurn
// does, writing its messages and ack.
func (b *Bulk) replay(sess *Session, v *Visitor, t *Turn) error {
	if t.State != nil {
		sess.State = *t.State
	}
	_, err := applyTurn(b.wb, t, sess, v)
	return err
}

// Close writes what is pending and adds the sessions to the usage and
// funnel counters.
func (b *Bulk) Close(ctx context.Context) error {
	if err := b.wb.Flush(); err != nil {
		return fmt.Errorf("storage: bulk: %w", err)
	}
	b.s.usageMu.Lock()
	defer b.s.usageMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.s.update(ctx, func(txn *badger.Txn) error { return addUsage(txn, b.usage) })
	if err != nil {
		return fmt.Errorf("storage: bulk: usage: %w", err)
	}
	b.usage = map[string]uint64{}
	// A year of hours' counters is more than one transaction holds.
	if err := b.s.addFunnel(ctx, b.funnel, shardStart); err != nil {
		return fmt.Errorf("storage: bulk: funnel counters: %w", err)
	}
	return nil
}

// setJSON writes v as JSON under key to a batch.
func setJSON(w kvWriter, k []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.Set(k, b)
}
