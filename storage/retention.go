package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// The retention index lists every visitor by site and last-seen time:
//
//	vl/{site}/{lastSeen hour}/{visitor} -> nil
//
// so the visitors of a site not seen since a cutoff are one key range from
// the start of vl/{site}/, and a sweep reads only the keys it deletes. It
// is kept in the transaction that moves the visitor's LastSeenAt
// (CreateSession, RecordTurn, Bulk.Add, through indexSeen). seenIndexBuilt
// marks a store whose index holds every visitor (see BuildSeenIndex).
var seenIndexBuilt = []byte("meta/seen-index")

// seenKey is the retention index entry of a visitor of site last seen at
// t. The entry holds the hour, not the instant: retention counts in days,
// and a visitor chatting away then moves its entry once an hour instead of
// on every turn.
func seenKey(site string, t time.Time, visitorID string) []byte {
	return key("vl", url.PathEscape(site), timeKey(seenHour(t)), visitorID)
}

// seenHour is the hour of t that the retention index keeps.
func seenHour(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// seenSitePrefix is vl/{site}/.
func seenSitePrefix(site string) []byte { return key("vl", url.PathEscape(site), "") }

// indexSeen moves v's retention entry from its last-seen time before (zero
// for a visitor that was not stored yet) to v.LastSeenAt.
func indexSeen(w kvWriter, before time.Time, v *Visitor) error {
	if !before.IsZero() {
		if seenHour(before).Equal(seenHour(v.LastSeenAt)) {
			return nil
		}
		if err := w.Delete(seenKey(v.Site, before, v.ID)); err != nil {
			return err
		}
	}
	return w.Set(seenKey(v.Site, v.LastSeenAt, v.ID), nil)
}

// BuildSeenIndex adds the retention entry of every visitor, once per store:
// stores written before the index existed have none. It reads every
// visitor record the first time and nothing afterwards.
func (s *Store) BuildSeenIndex(ctx context.Context) (int, error) {
	err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(seenIndexBuilt)
		return err
	})
	if err == nil {
		return 0, nil
	}
	if !errors.Is(err, badger.ErrKeyNotFound) {
		return 0, fmt.Errorf("storage: build retention index: %w", err)
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	n := 0
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("v/"), PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if n%256 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			var v Visitor
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &v) }); err != nil {
				return fmt.Errorf("visitor %s: %w", it.Item().Key(), err)
			}
			// Setting an entry that exists already is harmless.
			if err := indexSeen(wb, time.Time{}, &v); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err == nil {
		err = wb.Set(seenIndexBuilt, []byte("1"))
	}
	if err == nil {
		err = wb.Flush()
	}
	if err != nil {
		return 0, fmt.Errorf("storage: build retention index: %w", err)
	}
	return n, nil
}

// Retention says how long each site keeps the data of a visitor who has
// not been seen: no session activity of any kind for that long.
type Retention struct {
	// Sites maps a site ID to its retention; 0 keeps forever.
	Sites map[string]time.Duration
	// Default applies to sites not in Sites (for example a site removed
	// from the configuration); 0 keeps forever.
	Default time.Duration
}

// For returns the retention of site.
func (r Retention) For(site string) time.Duration {
	if d, ok := r.Sites[site]; ok {
		return d
	}
	return r.Default
}

// SweepResult counts what a retention sweep deleted.
type SweepResult struct {
	Visitors int // visitors erased
	Sessions int // their sessions
	Files    int // their files
	Keys     int // keys deleted in all, index entries included
	Stale    int // retention entries that no longer matched their visitor, dropped
}

// Add counts an erase in the sweep's result.
func (r *SweepResult) Add(e EraseResult) {
	if e.Visitor {
		r.Visitors++
	}
	r.Sessions += e.Sessions
	r.Files += e.Files
	r.Keys += e.Keys
}

// sweepBatch is how many retention entries a sweep reads at once.
const sweepBatch = 512

// SweepRetention erases every visitor whose site keeps data for a period
// that has passed since the visitor was last seen, as of now. It reads the
// retention index, not the visitors: its cost follows what it deletes. A
// visitor is erased as EraseVisitor does; usage counters stay. It returns
// what it deleted so far with ctx's error if ctx ends first.
func (s *Store) SweepRetention(ctx context.Context, now time.Time, r Retention) (SweepResult, error) {
	// Fold committed turns first, so the answer is exact (indexer.go).
	if err := s.settle(ctx); err != nil {
		return SweepResult{}, err
	}
	var res SweepResult
	sites, err := s.seenSites()
	if err != nil {
		return res, fmt.Errorf("storage: retention sweep: %w", err)
	}
	for _, site := range sites {
		keep := r.For(site)
		if keep <= 0 {
			continue
		}
		if err := s.sweepSite(ctx, site, now.Add(-keep), &res); err != nil {
			return res, fmt.Errorf("storage: retention sweep of site %s: %w", site, err)
		}
	}
	return res, nil
}

// seenSites lists the sites that have entries in the retention index,
// seeking from one site to the next.
func (s *Store) seenSites() ([]string, error) {
	var sites []string
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := []byte("vl/")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); {
			rest := it.Item().Key()[len(prefix):]
			i := 0
			for i < len(rest) && rest[i] != '/' {
				i++
			}
			esc := string(rest[:i])
			site, err := url.PathUnescape(esc)
			if err != nil {
				site = esc
			}
			sites = append(sites, site)
			it.Seek(append(key("vl", esc, ""), 0xff))
		}
		return nil
	})
	return sites, err
}

// seenEntry is one retention index entry.
type seenEntry struct {
	at        time.Time
	visitorID string
}

// sweepSite erases the visitors of site last seen before cutoff, reading
// the site's retention entries in batches from the oldest on.
func (s *Store) sweepSite(ctx context.Context, site string, cutoff time.Time, res *SweepResult) error {
	prefix := seenSitePrefix(site)
	end := string(prefix) + timeKey(cutoff)
	from := prefix
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var batch []seenEntry
		scanned := 0
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			defer it.Close()
			for it.Seek(from); it.Valid() && scanned < sweepBatch; it.Next() {
				k := it.Item().Key()
				if string(k) >= end {
					break
				}
				scanned++
				// Go on after this key next time, whatever becomes of it.
				from = append(it.Item().KeyCopy(nil), 0)
				rest := k[len(prefix):]
				if len(rest) < 9 {
					continue
				}
				batch = append(batch, seenEntry{at: suffixTime(rest), visitorID: string(rest[9:])})
			}
			return nil
		})
		if err != nil {
			return err
		}
		if scanned == 0 {
			return nil
		}
		for _, e := range batch {
			if err := s.expire(ctx, site, e, cutoff, res); err != nil {
				return err
			}
		}
	}
}

// expire erases the visitor of a retention entry if the entry is still
// its current one and older than cutoff; a stale entry is dropped. The
// decision and the fence that starts the erase are one transaction
// (fence, erase.go): a visitor who comes back meanwhile either moved its
// last-seen time before the decision, and is kept, or finds the fence and
// is refused, so nothing acked is ever erased for being too old.
func (s *Store) expire(ctx context.Context, site string, e seenEntry, cutoff time.Time, res *SweepResult) error {
	current := func(v *Visitor) bool { return v.Site == site && seenHour(v.LastSeenAt).Equal(e.at) }
	v, fenced, err := s.fence(ctx, e.visitorID, func(v *Visitor) bool {
		return current(v) && v.LastSeenAt.Before(cutoff)
	})
	if err != nil {
		return err
	}
	if !fenced {
		if v != nil && current(v) {
			return nil // seen since the cutoff
		}
		// The visitor moved on (its newer entry is further up) or is gone.
		if err := s.updateAnyway(ctx, func(txn *badger.Txn) error { return txn.Delete(seenKey(site, e.at, e.visitorID)) }); err != nil {
			return err
		}
		res.Stale++
		return nil
	}
	var er EraseResult
	err = s.eraseFenced(ctx, e.visitorID, &er)
	res.Add(er)
	return err
}
