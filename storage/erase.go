package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// EraseResult counts what EraseVisitor deleted.
type EraseResult struct {
	Visitor  bool // the visitor record existed
	Sessions int  // sessions deleted, with their messages and acks
	Messages int  // messages deleted
	Files    int  // files deleted, with their chunks
	Keys     int  // keys deleted in all, index entries included
}

// eraseRounds bounds how often EraseVisitor starts over because the
// visitor got a new session or file while it was being erased.
const eraseRounds = 5

// deleteBatch is how many keys one write batch deletes before it is
// flushed: far under Badger's transaction limits at any key size we use.
const deleteBatch = 10000

// EraseVisitor deletes the visitor and everything recorded of it: its
// record, every session with its messages and acks, every file with its
// chunks, and every index entry of these (activity, facets, search terms,
// retention). Usage counters are aggregates of what was consumed and stay;
// the funnel's counters, which count the sessions stored, lose its
// sessions (funnel_counts.go). Erasing a visitor
// that does not exist does nothing and is no error.
//
// Each session goes in the order that keeps the store consistent if the
// process dies half-way: first the record with its index entries in one
// transaction (a turn in flight on it conflicts, and later turns find no
// session), then its messages and acks, last the visitor's pointer to it,
// so a second EraseVisitor finds and finishes what is left. Files go the
// same way: record, chunks, pointer. It begins by fencing the visitor
// (fence): from then on no session, turn or file is added for it, and a
// crash half-way leaves the fence for the next erase to finish. The
// visitor record goes last, in a transaction that checks that no session
// or file is left.
//
// A browser that comes back with the visitor's cookie after the erase is
// recorded afresh, as a new visitor with the same ID.
func (s *Store) EraseVisitor(ctx context.Context, id string) (EraseResult, error) {
	var res EraseResult
	if err := CheckEraseID(id); err != nil {
		return res, err
	}
	if _, _, err := s.fence(ctx, id, nil); err != nil {
		return res, fmt.Errorf("storage: erase visitor %s: %w", id, err)
	}
	err := s.eraseFenced(ctx, id, &res)
	return res, err
}

// CheckEraseID returns EraseVisitor's error for an ID no visitor has: every
// engine refuses the same ones.
func CheckEraseID(id string) error {
	if id == "" || strings.Contains(id, "/") {
		return fmt.Errorf("storage: erase visitor: bad id %q", id)
	}
	return nil
}

// ErrErasing is returned for a write to a visitor whose erasure has begun.
// It is an ErrNotFound: the visitor is as good as gone.
var ErrErasing = fmt.Errorf("%w: the visitor is being erased", ErrNotFound)

// fenceHook, if set (tests only), runs as fence begins: after a sweep
// found the visitor's retention entry old, before it decides.
var fenceHook func(visitorID string)

// fence marks the visitor Erasing, in one transaction with the decision
// erase(v) (nil: erase whatever the record says), and returns the visitor
// as read (nil when it has no record) and whether it was fenced. Every
// writer of a visitor's data (StartSession, RecordTurn, an upload's
// commit) reads the record in its own transaction and refuses an Erasing
// one, so a writer either commits before the fence, and the erase that
// follows sees its keys, or conflicts with it and then refuses: a visitor
// who comes back while a sweep decides keeps what was acked, and nothing
// new outlives an erase. A visitor with no record is fenced trivially.
//
// Turns are group-committed without reading the visitor (commit.go): the
// fence holds the committer between two batches, folds every committed
// turn into the records first (so the decision sees the visitor's latest
// activity), and marks the visitor for the committer to refuse its turns.
func (s *Store) fence(ctx context.Context, id string, erase func(v *Visitor) bool) (*Visitor, bool, error) {
	if fenceHook != nil {
		fenceHook(id)
	}
	v, fenced, err := s.fenceLocked(ctx, id, erase)
	if err == nil && fenced {
		if fn := s.onErase.Load(); fn != nil {
			// Not under the committer's lock: the owner may wait for a
			// turn of its own that the committer is about to refuse.
			(*fn)(id)
		}
	}
	return v, fenced, err
}

func (s *Store) fenceLocked(ctx context.Context, id string, erase func(v *Visitor) bool) (*Visitor, bool, error) {
	var got *Visitor
	fenced := false
	if s.commits != nil {
		s.commits.mu.Lock()
		defer s.commits.mu.Unlock()
		if err := s.settle(ctx); err != nil {
			return nil, false, err
		}
	}
	err := s.updateAnyway(ctx, func(txn *badger.Txn) error {
		got, fenced = nil, false
		var v Visitor
		switch err := getJSON(txn, key("v", id), &v); {
		case errors.Is(err, ErrNotFound):
			fenced = erase == nil
			return nil
		case err != nil:
			return err
		}
		got = &v
		if erase != nil && !erase(&v) {
			return nil
		}
		fenced = true
		if v.Erasing {
			return nil
		}
		v.Erasing = true
		return putJSON(txn, key("v", id), &v)
	})
	if err == nil && fenced && s.commits != nil {
		s.commits.fenced[id] = true
	}
	return got, fenced, err
}

// unfence lets turns of the visitor through again once it is erased: the
// owners of its old sessions were stopped (OnErase), and a browser that
// comes back is a new visitor with the same ID.
func (s *Store) unfence(id string) {
	if s.commits != nil {
		s.commits.mu.Lock()
		delete(s.commits.fenced, id)
		s.commits.mu.Unlock()
	}
}

// eraseFenced erases a fenced visitor: EraseVisitor after the fence.
func (s *Store) eraseFenced(ctx context.Context, id string, res *EraseResult) error {
	// A session started before the fence is counted before it is
	// uncounted (startcount.go).
	if err := s.counts.count(ctx); err != nil {
		return fmt.Errorf("storage: erase visitor %s: %w", id, err)
	}
	for round := 0; round < eraseRounds; round++ {
		sids, err := s.keySuffixes(key("vs", id, ""))
		if err != nil {
			return fmt.Errorf("storage: erase visitor %s: %w", id, err)
		}
		for _, sid := range sids {
			if err := s.eraseSession(ctx, id, sid, res); err != nil {
				return fmt.Errorf("storage: erase visitor %s: session %s: %w", id, sid, err)
			}
		}
		fids, err := s.keySuffixes(key("vf", id, ""))
		if err != nil {
			return fmt.Errorf("storage: erase visitor %s: %w", id, err)
		}
		for _, fid := range fids {
			if err := s.eraseFile(ctx, id, fid, res); err != nil {
				return fmt.Errorf("storage: erase visitor %s: file %s: %w", id, fid, err)
			}
		}
		// The visitor's own activity index is emptied session by session
		// above; this catches entries of sessions that were already gone.
		n, err := s.deletePrefix(ctx, key("iv", id, ""))
		res.Keys += n
		if err != nil {
			return fmt.Errorf("storage: erase visitor %s: %w", id, err)
		}
		// Events and logged attempts that carry its data go too
		// (outbox.go); visitor.erased below tells the endpoints.
		n, err = s.purgeOutbox(ctx, id)
		res.Keys += n
		if err != nil {
			return fmt.Errorf("storage: erase visitor %s: %w", id, err)
		}
		done, err := s.eraseVisitorRecord(ctx, id, res)
		if err != nil {
			return fmt.Errorf("storage: erase visitor %s: %w", id, err)
		}
		if done {
			s.unfence(id)
			return nil
		}
	}
	return fmt.Errorf("storage: erase visitor %s: it kept getting new sessions or files; try again", id)
}

// eraseSession deletes one session of the visitor and everything under it.
func (s *Store) eraseSession(ctx context.Context, visitorID, sid string, res *EraseResult) error {
	existed := false
	var keys int
	err := s.updateAnyway(ctx, func(txn *badger.Txn) error {
		existed, keys = false, 0
		var sess Session
		switch err := getJSON(txn, key("s", sid), &sess); {
		case errors.Is(err, ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		if sess.VisitorID != visitorID {
			// Not this visitor's: drop only the stray pointer below.
			return nil
		}
		existed = true
		if err := moveFunnel(txn, shardOther, &sess, nil); err != nil { // funnel_counts.go
			return err
		}
		ks, err := indexKeys(&sess)
		if err != nil {
			return err
		}
		ks = append(ks, key("s", sid))
		// The idle sweep's keys of it, if any (idle.go).
		for _, k := range [][]byte{idleMarkerKey(sid), idleHeldKey(sid)} {
			if _, err := txn.Get(k); err == nil {
				ks = append(ks, k)
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
		}
		for _, k := range ks {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		keys = len(ks)
		return nil
	})
	if err != nil {
		return err
	}
	res.Keys += keys
	if existed {
		res.Sessions++
	}
	n, err := s.deletePrefix(ctx, key("m", sid, ""))
	res.Keys += n
	res.Messages += n
	if err != nil {
		return err
	}
	n, err = s.deletePrefix(ctx, key("c", sid, ""))
	res.Keys += n
	if err != nil {
		return err
	}
	n, err = s.deletePrefix(ctx, hostVarsPrefix(sid))
	res.Keys += n
	if err != nil {
		return err
	}
	n, err = s.deletePrefix(ctx, deltaPrefix(sid))
	res.Keys += n
	if err != nil {
		return err
	}
	// The inbox's entries of the conversation (handover.go, inbox.go).
	for _, p := range inboxPrefixes(sid) {
		n, err = s.deletePrefix(ctx, p)
		res.Keys += n
		if err != nil {
			return err
		}
	}
	if err := s.updateAnyway(ctx, func(txn *badger.Txn) error { return txn.Delete(key("vs", visitorID, sid)) }); err != nil {
		return err
	}
	res.Keys++
	return nil
}

// eraseFile deletes one file of the visitor: record, chunks, pointer.
func (s *Store) eraseFile(ctx context.Context, visitorID, fid string, res *EraseResult) error {
	existed := false
	var size int64
	err := s.updateAnyway(ctx, func(txn *badger.Txn) error {
		existed = false
		var f File
		switch err := getJSON(txn, fileKey(fid), &f); {
		case errors.Is(err, ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		existed, size = true, f.Size
		return txn.Delete(fileKey(fid))
	})
	if err != nil {
		return err
	}
	if existed {
		res.Files++
		res.Keys++
		s.erasedBytes.Add(size)
	}
	n, err := s.chunks.delete(ctx, fid)
	res.Keys += n
	if err != nil {
		return err
	}
	if err := s.updateAnyway(ctx, func(txn *badger.Txn) error { return txn.Delete(visitorFileKey(visitorID, fid)) }); err != nil {
		return err
	}
	res.Keys++
	return nil
}

// eraseVisitorRecord deletes the visitor record with its retention entry
// and search terms, unless a session or file was added meanwhile (done is
// false then). Reading the record makes a concurrent CreateSession
// conflict with the delete. The visitor.erased event commits with it.
func (s *Store) eraseVisitorRecord(ctx context.Context, id string, res *EraseResult) (done bool, err error) {
	existed, keys := false, 0
	var events *Reservation
	err = s.updateAnyway(ctx, func(txn *badger.Txn) error {
		events.Release() // a retry writes it afresh
		done, existed, keys = false, false, 0
		var v Visitor
		switch err := getJSON(txn, key("v", id), &v); {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return err
		default:
			existed = true
		}
		for _, p := range [][]byte{key("vs", id, ""), key("vf", id, "")} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
			it.Rewind()
			more := it.Valid()
			it.Close()
			if more {
				return nil
			}
		}
		done = true
		if !existed {
			return nil
		}
		ks := [][]byte{key("v", id), seenKey(v.Site, v.LastSeenAt, id)}
		// The terms of its inputs went with its sessions; these are the
		// same words, in case a session was lost before its terms.
		for _, f := range []string{v.Name, v.Email, v.Phone, v.PlatformID} {
			for _, t := range contactTerms(f) {
				ks = append(ks, key("iq", escapeTerm(t), id))
			}
		}
		ks = append(ks, mergedKeys(txn, &v)...) // identify.go
		for _, k := range ks {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		keys = len(ks)
		if s.outboxOn() {
			var err error
			events, err = s.enqueue(txn, []Event{{Type: EventVisitorErased, Site: v.Site, Visitor: id, At: time.Now()}})
			return err
		}
		return nil
	})
	if err != nil {
		events.Release()
		return false, err
	}
	events.Committed()
	if existed {
		res.Visitor = true
	}
	res.Keys += keys
	return done, nil
}

// updateAnyway is update for deletions: it goes on while the disk is
// nearly full, since deleting is how space comes back.
func (s *Store) updateAnyway(ctx context.Context, fn func(txn *badger.Txn) error) error {
	return s.retryUpdate(ctx, false, fn)
}

// keySuffixes returns what follows prefix in each key under it.
func (s *Store) keySuffixes(prefix []byte) ([]string, error) {
	var out []string
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			out = append(out, string(it.Item().Key()[len(prefix):]))
		}
		return nil
	})
	return out, err
}

// deletePrefix deletes every key under prefix in write batches of at most
// deleteBatch keys, and returns how many it deleted. Use it only for keys
// that nothing writes any more (the children of a deleted record).
func (s *Store) deletePrefix(ctx context.Context, prefix []byte) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var keys [][]byte
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			defer it.Close()
			for it.Rewind(); it.Valid() && len(keys) < deleteBatch; it.Next() {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			return total, err
		}
		wb := s.db.NewWriteBatch()
		for _, k := range keys {
			if err := wb.Delete(k); err != nil {
				wb.Cancel()
				return total, err
			}
		}
		if err := wb.Flush(); err != nil {
			return total, err
		}
		total += len(keys)
		if len(keys) < deleteBatch {
			return total, nil
		}
	}
}

// keyRecorder is a kvWriter that notes the keys set and writes nothing.
type keyRecorder struct{ keys [][]byte }

func (r *keyRecorder) Set(k, _ []byte) error { r.keys = append(r.keys, k); return nil }
func (r *keyRecorder) Delete([]byte) error   { return nil }

// indexKeys returns every index key of the session: what indexing it
// afresh writes, which incremental maintenance keeps equal to what is
// stored. Going through indexSession keeps erasure complete whatever
// indexes it grows.
func indexKeys(sess *Session) ([][]byte, error) {
	var r keyRecorder
	if err := indexSession(&r, nil, sess); err != nil {
		return nil, err
	}
	return r.keys, nil
}
