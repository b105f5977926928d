package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/oklog/ulid/v2"
)

// VerifyReport is what Verify found.
type VerifyReport struct {
	Visitors, Sessions, Messages, Acks, Files int
	// Problems are inconsistencies between records and indexes, each
	// naming the keys involved. A sound store has none.
	Problems []string
	// OrphanChunkFiles counts files whose chunks have no record: what an
	// upload cut short by a crash leaves, until Files.DeleteOrphans.
	OrphanChunkFiles int
}

func (r *VerifyReport) problem(format string, a ...any) {
	if len(r.Problems) < 1000 {
		r.Problems = append(r.Problems, fmt.Sprintf(format, a...))
	}
}

// Problemf notes a problem another engine's check found, as Verify notes
// its own (at most 1,000 are kept).
func (r *VerifyReport) Problemf(format string, a ...any) { r.problem(format, a...) }

// Verify reads the whole store, in one snapshot, and checks that records
// and indexes agree: every session has exactly the index entries indexing
// it afresh would write, and no index entry names anything else; its
// message count is the number of its messages; every host variable names
// a session; every ack names a message of its session with its client ID,
// and no client ID was stored twice;
// the funnel's per-day counters count the sessions stored;
// every visitor has its retention entry and every retention entry its
// visitor; every file has its record, its visitor's entry and all its
// chunks. It is for tests, and for checking a restored or crashed store:
// its cost grows with the store.
func (s *Store) Verify(ctx context.Context) (*VerifyReport, error) {
	// Fold committed turns first, so the answer is exact (indexer.go).
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	r := &VerifyReport{}
	err := s.db.View(func(txn *badger.Txn) error {
		exists := func(k []byte) bool {
			_, err := txn.Get(k)
			return err == nil
		}
		// Sessions: their index entries, messages and acks.
		want := map[string]bool{} // index keys the sessions should have
		prefixes := map[string]bool{}
		funnel := funnelTally{} // the funnel counters they should have
		err := eachValue(ctx, txn, []byte("s/"), func(k, v []byte) error {
			var sess Session
			if err := json.Unmarshal(v, &sess); err != nil {
				r.problem("%s: %v", k, err)
				return nil
			}
			r.Sessions++
			funnel.add(&sess, 1)
			if !exists(key("v", sess.VisitorID)) {
				r.problem("%s: visitor %s has no record", k, sess.VisitorID)
			}
			if !exists(key("vs", sess.VisitorID, sess.ID)) {
				r.problem("%s: no vs/ entry", k)
			}
			ks, err := indexKeys(&sess)
			if err != nil {
				return err
			}
			for _, ik := range ks {
				want[string(ik)] = true
				prefixes[string(ik[:strings.IndexByte(string(ik), '/')+1])] = true
				if !exists(ik) {
					r.problem("%s: index entry %q missing", k, ik)
				}
			}
			return s.verifyMessages(ctx, txn, &sess, r)
		})
		if err != nil {
			return err
		}
		for p := range prefixes {
			if p == "iq/" {
				continue // search terms are visitor-level: checked below
			}
			err := eachKey(ctx, txn, []byte(p), func(k []byte) error {
				if !want[string(k)] {
					r.problem("index entry %q names no session as it is", k)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if err := verifyFunnelCounts(ctx, txn, funnel, r); err != nil {
			return err
		}
		// Search terms: each names a visitor that exists.
		err = eachKey(ctx, txn, []byte("iq/"), func(k []byte) error {
			vid := string(k[strings.LastIndexByte(string(k), '/')+1:])
			if !exists(key("v", vid)) {
				r.problem("search entry %q names no visitor", k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Host variables: each belongs to a session that exists.
		err = eachKey(ctx, txn, []byte("hv/"), func(k []byte) error {
			sid, _, _ := strings.Cut(string(k[len("hv/"):]), "/")
			if !exists(key("s", sid)) {
				r.problem("host variable %q names no session", k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Visitors and the retention index, both ways.
		err = eachValue(ctx, txn, []byte("v/"), func(k, v []byte) error {
			var vis Visitor
			if err := json.Unmarshal(v, &vis); err != nil {
				r.problem("%s: %v", k, err)
				return nil
			}
			r.Visitors++
			if !exists(seenKey(vis.Site, vis.LastSeenAt, vis.ID)) {
				r.problem("%s: no retention entry", k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = eachKey(ctx, txn, []byte("vl/"), func(k []byte) error {
			parts := strings.SplitN(string(k), "/", 3)
			if len(parts) < 3 || len(parts[2]) < 10 {
				r.problem("retention entry %q: bad key", k)
				return nil
			}
			vid := parts[2][9:]
			var vis Visitor
			if err := getJSON(txn, key("v", vid), &vis); err != nil {
				r.problem("retention entry %q: visitor: %v", k, err)
			} else if string(seenKey(vis.Site, vis.LastSeenAt, vis.ID)) != string(k) {
				r.problem("retention entry %q is stale", k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := verifyIdentities(ctx, txn, r); err != nil { // identify.go
			return err
		}
		// Turns not folded into their records: none once the store was
		// opened for writing (Open folds them) or closed cleanly.
		err = eachKey(ctx, txn, []byte("d/"), func(k []byte) error {
			r.problem("turn %q not folded into its session yet: start Parley on this store once", k)
			return nil
		})
		if err != nil {
			return err
		}
		err = verifyOwned(ctx, txn, r, "vs/", "session", func(id string) []byte { return key("s", id) },
			func(sess *Session) string { return sess.VisitorID })
		if err != nil {
			return err
		}
		return s.verifyFiles(ctx, txn, r)
	})
	if err != nil {
		return nil, fmt.Errorf("storage: verify: %w", err)
	}
	return r, nil
}

// verifyMessages checks a session's messages against its count and acks.
func (s *Store) verifyMessages(ctx context.Context, txn *badger.Txn, sess *Session, r *VerifyReport) error {
	n := 0
	byClient := map[string][]string{} // client ID -> messages carrying it
	err := eachValue(ctx, txn, key("m", sess.ID, ""), func(k, v []byte) error {
		var m Message
		if err := json.Unmarshal(v, &m); err != nil {
			r.problem("%s: %v", k, err)
			return nil
		}
		n++
		if m.SessionID != sess.ID {
			r.problem("%s: names session %s", k, m.SessionID)
		}
		if m.ClientID != "" {
			byClient[m.ClientID] = append(byClient[m.ClientID], m.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.Messages += n
	if n != sess.MessageCount {
		r.problem("s/%s: messageCount %d, %d messages stored", sess.ID, sess.MessageCount, n)
	}
	acked := map[string]bool{}
	err = eachValue(ctx, txn, key("c", sess.ID, ""), func(k, v []byte) error {
		var a Ack
		if err := json.Unmarshal(v, &a); err != nil {
			r.problem("%s: %v", k, err)
			return nil
		}
		r.Acks++
		cid := string(k[len(key("c", sess.ID, "")):])
		acked[cid] = true
		if ids := byClient[cid]; len(ids) != 1 || ids[0] != a.ID {
			r.problem("%s: ack %s, messages with this client ID %v", k, a.ID, ids)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for cid, ids := range byClient {
		if !acked[cid] {
			r.problem("m/%s: client ID %s on %v has no ack", sess.ID, cid, ids)
		}
	}
	return nil
}

// verifyFiles checks file records, their visitors' entries and chunks.
func (s *Store) verifyFiles(ctx context.Context, txn *badger.Txn, r *VerifyReport) error {
	err := eachValue(ctx, txn, []byte("f/"), func(k, v []byte) error {
		var f File
		if err := json.Unmarshal(v, &f); err != nil {
			r.problem("%s: %v", k, err)
			return nil
		}
		r.Files++
		if _, err := txn.Get(visitorFileKey(f.VisitorID, f.ID)); err != nil {
			r.problem("%s: no vf/ entry", k)
		}
		chunks, size, err := s.chunks.stat(ctx, f.ID)
		if err != nil {
			return err
		}
		if chunks != f.Chunks || size != f.Size {
			r.problem("%s: %d chunks of %d bytes stored, record says %d of %d", k, chunks, size, f.Chunks, f.Size)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = verifyOwned(ctx, txn, r, "vf/", "file", fileKey, func(f *File) string { return f.VisitorID })
	if err != nil {
		return err
	}
	return s.chunks.files(ctx, func(id string) error {
		if len(id) < ulid.EncodedSize {
			r.problem("file chunks %q: bad file id", id)
			return nil
		}
		if _, err := txn.Get(fileKey(id)); err != nil {
			r.OrphanChunkFiles++
		}
		return nil
	})
}

// verifyOwned checks an index of keys prefix{owner}/{id} (a visitor's
// sessions, a visitor's files): each names a record, at recordKey(id), that
// exists and whose ownerOf is owner.
func verifyOwned[T any](ctx context.Context, txn *badger.Txn, r *VerifyReport, prefix, what string, recordKey func(id string) []byte, ownerOf func(*T) string) error {
	return eachKey(ctx, txn, []byte(prefix), func(k []byte) error {
		parts := strings.Split(string(k), "/")
		if len(parts) != 3 {
			r.problem("%q: bad key", k)
			return nil
		}
		var rec T
		if err := getJSON(txn, recordKey(parts[2]), &rec); err != nil {
			r.problem("%q: %s: %v", k, what, err)
		} else if owner := ownerOf(&rec); owner != parts[1] {
			r.problem("%q: %s belongs to %s", k, what, owner)
		}
		return nil
	})
}

// eachKey calls fn with every key under prefix.
func eachKey(ctx context.Context, txn *badger.Txn, prefix []byte, fn func(k []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		if n++; n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := fn(it.Item().KeyCopy(nil)); err != nil {
			return err
		}
	}
	return nil
}

// eachValue calls fn with every key under prefix and its value.
func eachValue(ctx context.Context, txn *badger.Txn, prefix []byte, fn func(k, v []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		if n++; n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		if err := fn(it.Item().KeyCopy(nil), v); err != nil {
			return err
		}
	}
	return nil
}
