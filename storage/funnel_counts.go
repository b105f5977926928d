package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// The funnel's counters: for every UTC day (uf/) and hour (uh/), site and
// bot version, how many of the sessions started then are stored with each
// funnel facet (all, goal, goal=NAME, blk=NAME; see funnelFacets). The
// funnel reads the days' counters for the whole days of its period, the
// hours' for the whole hours of a day it cuts, and the index only for the
// hours it cuts, instead of one index entry per session and block
// (funnel.go).
//
//	uf/{yyyymmdd}/{site}\x00{bot}\x00{version}\x00{shard}   -> the facets' counts
//	uh/{yyyymmddhh}/{site}\x00{bot}\x00{version}\x00{shard} -> the same, of an hour
//
// Every transaction that writes, moves or deletes a session record adds
// the change of its facets to the counters in the same transaction, so
// they always equal what the records hold (Verify checks it). The counters
// are read, changed and written back; to keep the writers of one cell from
// conflicting on it (a session's start and the fold of its turns, both on
// today's cell), each kind of writer has its own shard of the cell, which
// one lock serialises, and a reader sums the shards. Counts of a shard may
// be negative (the fold's when a session's record is rewritten, the other
// writers' when one is erased); their sum never is.
const (
	shardStart = 's' // new sessions (startcount.go) and Bulk, under usageMu
	shardFold  = 'f' // the fold of turns (indexer.go), under foldMu
	shardOther = 'x' // erase, retention and identify merges: rare, retried on a conflict
)

// funnelUnit is a span of time the counters count by: a UTC day or hour.
type funnelUnit struct {
	prefix string // of its keys: uf, uh
	layout string // of its start in keys
	trunc  func(time.Time) time.Time
	next   func(time.Time) time.Time
}

var (
	unitDay  = &funnelUnit{"uf", "20060102", dayOf, func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }}
	unitHour = &funnelUnit{"uh", "2006010215", func(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) },
		func(t time.Time) time.Time { return t.Add(time.Hour) }}
	funnelUnits = []*funnelUnit{unitDay, unitHour}
)

// funnelCell is one cell of the counters: a day or hour (unit, at) of a
// site's bot version.
type funnelCell struct{ unit, at, site, bot, version string }

// cellsOf returns the cells a session counts in: its start's day and hour.
func cellsOf(s *Session) [2]funnelCell {
	var c [2]funnelCell
	for i, u := range funnelUnits {
		c[i] = funnelCell{u.prefix, s.StartedAt.UTC().Format(u.layout), s.Site, s.Bot, s.Version}
	}
	return c
}

func funnelKey(c funnelCell, shard byte) []byte {
	return key(c.unit, c.at, c.site+"\x00"+c.bot+"\x00"+c.version+"\x00"+string(shard))
}

// parseFunnelKey reads a uf/ or uh/ key back; ok is false for anything else.
func parseFunnelKey(k []byte) (c funnelCell, ok bool) {
	for _, u := range funnelUnits {
		rest, found := bytes.CutPrefix(k, []byte(u.prefix+"/"))
		n := len(u.layout)
		if !found || len(rest) < n+1 || rest[n] != '/' {
			continue
		}
		parts := strings.Split(string(rest[n+1:]), "\x00")
		if len(parts) != 4 {
			return c, false
		}
		return funnelCell{u.prefix, string(rest[:n]), parts[0], parts[1], parts[2]}, true
	}
	return c, false
}

// FunnelMarks are what the funnel counts a session under besides its
// start, whichever engine counts: whether it reached a goal (converted),
// and the distinct blocks and goals it reached, sorted.
func FunnelMarks(s *Session) (converted bool, blocks, goals []string) {
	blocks = slices.Compact(slices.Sorted(slices.Values(s.State.Reached)))
	goals = slices.Compact(slices.Sorted(slices.Values(s.State.Goals)))
	return len(s.State.Goals) > 0, blocks, goals
}

// funnelFacets lists the facets of a session that the funnel counts: a
// subset of its dashboard facets (index.go), with the same names.
func funnelFacets(s *Session) []string {
	converted, blocks, goals := FunnelMarks(s)
	f := make([]string, 0, 2+len(goals)+len(blocks))
	f = append(f, facetAll)
	if converted {
		f = append(f, facetAnyGoal)
	}
	for _, g := range goals {
		f = append(f, facet("goal", g))
	}
	for _, b := range blocks {
		f = append(f, facet("blk", b))
	}
	slices.Sort(f)
	return slices.Compact(f)
}

// sameFunnel reports whether old and next count the same in the funnel:
// most folds change nothing of it.
func sameFunnel(old, next *Session) bool {
	return cellsOf(old) == cellsOf(next) && slices.Equal(old.State.Goals, next.State.Goals) &&
		slices.Equal(old.State.Reached, next.State.Reached)
}

// funnelTally is counts, or changes of counts, of funnel facets by cell.
type funnelTally map[funnelCell]map[string]int64

// add adds n to every funnel facet of s, in the cells of its day and hour.
func (t funnelTally) add(s *Session, n int64) {
	facets := funnelFacets(s)
	for _, c := range cellsOf(s) {
		m := t[c]
		if m == nil {
			m = map[string]int64{}
			t[c] = m
		}
		for _, f := range facets {
			m[f] += n
		}
	}
}

// addTally adds the tally u to t.
func (t funnelTally) addTally(u funnelTally) {
	for c, d := range u {
		m := t[c]
		if m == nil {
			m = map[string]int64{}
			t[c] = m
		}
		for f, n := range d {
			m[f] += n
		}
	}
}

// move notes a session record going from old to next (either nil: a new
// or a deleted record).
func (t funnelTally) move(old, next *Session) {
	if old != nil && next != nil && sameFunnel(old, next) {
		return
	}
	if old != nil {
		t.add(old, -1)
	}
	if next != nil {
		t.add(next, 1)
	}
}

// write adds the tally to the counters of one shard. The rare writers
// (shardOther) gather a cell's shards into their own as they write it, and
// delete a cell whose counts all come to zero: an erase leaves no counter
// of sessions that are gone. That reads the other shards, so it conflicts
// with (and is retried against) a start or fold of the same cell.
func (t funnelTally) write(txn *badger.Txn, shard byte) error {
	shards := []byte{shard}
	if shard == shardOther {
		shards = []byte{shardStart, shardFold, shardOther}
	}
	for c, d := range t {
		have := map[string]int64{}
		var stored []byte // the shards that have a key
		for _, sh := range shards {
			k := funnelKey(c, sh)
			item, err := txn.Get(k)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := item.Value(func(v []byte) error { return decodeFunnelCounts(v, have) }); err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
			stored = append(stored, sh)
		}
		for f, n := range d {
			have[f] += n
		}
		v := encodeFunnelCounts(have)
		for _, sh := range stored {
			if sh == shard && len(v) > 0 {
				continue // set below
			}
			if err := txn.Delete(funnelKey(c, sh)); err != nil {
				return err
			}
		}
		if len(v) > 0 {
			if err := txn.Set(funnelKey(c, shard), v); err != nil {
				return err
			}
		}
	}
	return nil
}

// addFunnel adds a tally of many cells (a bulk load's) to the counters of
// shard, in transactions of a bounded number of cells so that none is too
// big for Badger. The cells written leave t: on an error, t holds what is
// left to write.
func (s *Store) addFunnel(ctx context.Context, t funnelTally, shard byte) error {
	cells := slices.SortedFunc(maps.Keys(t), func(a, b funnelCell) int {
		return strings.Compare(string(funnelKey(a, shard)), string(funnelKey(b, shard)))
	})
	per := max(1, s.batchBytes/256) // a cell: a key and a few dozen bytes of counts
	for len(cells) > 0 {
		n := min(len(cells), per)
		chunk := funnelTally{}
		for _, c := range cells[:n] {
			chunk[c] = t[c]
		}
		if err := s.update(ctx, func(txn *badger.Txn) error { return chunk.write(txn, shard) }); err != nil {
			return err
		}
		for _, c := range cells[:n] {
			delete(t, c)
		}
		cells = cells[n:]
	}
	return nil
}

// moveFunnel adds the change of a session record from old to next to the
// counters of shard, in txn.
func moveFunnel(txn *badger.Txn, shard byte, old, next *Session) error {
	t := funnelTally{}
	t.move(old, next)
	return t.write(txn, shard)
}

// encodeFunnelCounts encodes a cell's counts, the zeros left out, in
// facet order: for each, its length (uvarint), the facet and the count
// (varint).
func encodeFunnelCounts(m map[string]int64) []byte {
	var b []byte
	for _, f := range slices.Sorted(maps.Keys(m)) {
		if m[f] == 0 {
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
		b = binary.AppendVarint(b, m[f])
	}
	return b
}

// decodeFunnelCounts adds the counts encoded in b to m.
func decodeFunnelCounts(b []byte, m map[string]int64) error {
	for len(b) > 0 {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return errors.New("a bad funnel count")
		}
		f := string(b[n : n+int(l)])
		b = b[n+int(l):]
		c, n := binary.Varint(b)
		if n <= 0 {
			return errors.New("a bad funnel count")
		}
		b = b[n:]
		m[f] += c
	}
	return nil
}

// funnelBuilt marks a store whose uf/ and uh/ counters count every session;
// BuildIndexes counts them afresh when it is missing (a store written
// before the counters) or names another layout.
var funnelBuilt = []byte("meta/funnel")

const funnelLayout = "1"

// buildFunnelCounts writes the funnel counters of every session, once per
// store and layout (see funnelBuilt), and returns how many sessions it
// counted (0 when nothing was due). Like BuildIndexes it runs before
// serving: it drops uf/ and uh/, which blocks writes.
func (s *Store) buildFunnelCounts(ctx context.Context) (int, error) {
	if err := s.settle(ctx); err != nil {
		return 0, err
	}
	have, err := s.getMeta(funnelBuilt)
	if err != nil || string(have) == funnelLayout {
		return 0, err
	}
	if err := s.db.DropPrefix([]byte("uf/"), []byte("uh/")); err != nil {
		return 0, err
	}
	start := time.Now()
	t := funnelTally{}
	n := 0
	err = s.db.View(func(txn *badger.Txn) error {
		return eachSession(ctx, txn, func(sess *Session) error {
			t.add(sess, 1)
			n++
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for c, m := range t {
		if err := wb.Set(funnelKey(c, shardStart), encodeFunnelCounts(m)); err != nil {
			return 0, err
		}
	}
	if err := wb.Set(funnelBuilt, []byte(funnelLayout)); err != nil {
		return 0, err
	}
	if err := wb.Flush(); err != nil {
		return 0, err
	}
	if s.log != nil && n > 0 {
		s.log.Info("storage: counted the stored sessions for the funnel", "sessions", n, "took", time.Since(start).Round(time.Millisecond))
	}
	return n, nil
}

// getMeta returns the value of a meta/ key, nil when it is not set.
func (s *Store) getMeta(k []byte) ([]byte, error) {
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	return v, err
}

// readFunnelCounts adds the counters of the days or hours [first, last]
// of the site ("" for all) to acc, the shards summed.
func readFunnelCounts(ctx context.Context, txn *badger.Txn, u *funnelUnit, first, last time.Time, site string, acc funnelTally) error {
	prefix := []byte(u.prefix + "/")
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 256})
	defer it.Close()
	end := key(u.prefix, last.Format(u.layout)+"0") // '0' follows '/': past every key of the last
	n := 0
	for it.Seek(key(u.prefix, first.Format(u.layout), "")); it.ValidForPrefix(prefix) && bytes.Compare(it.Item().Key(), end) < 0; it.Next() {
		if n++; n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		c, ok := parseFunnelKey(it.Item().Key())
		if !ok || (site != "" && c.site != site) {
			continue
		}
		m := acc[c]
		if m == nil {
			m = map[string]int64{}
			acc[c] = m
		}
		if err := it.Item().Value(func(v []byte) error { return decodeFunnelCounts(v, m) }); err != nil {
			return fmt.Errorf("%q: %w", it.Item().Key(), err)
		}
	}
	return nil
}

// verifyFunnelCounts checks that the uf/ and uh/ counters, shards summed, are the
// tally of the sessions stored (want).
func verifyFunnelCounts(ctx context.Context, txn *badger.Txn, want funnelTally, r *VerifyReport) error {
	have := funnelTally{}
	for _, u := range funnelUnits {
		if err := readFunnelCounts(ctx, txn, u, time.Unix(0, 0), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), "", have); err != nil {
			return err
		}
	}
	cells := map[funnelCell]bool{}
	for c := range want {
		cells[c] = true
	}
	for c := range have {
		cells[c] = true
	}
	for c := range cells {
		facets := map[string]bool{}
		for f := range want[c] {
			facets[f] = true
		}
		for f := range have[c] {
			facets[f] = true
		}
		for f := range facets {
			if w, h := want[c][f], have[c][f]; w != h {
				r.problem("funnel counter %s/%s %s %s/%s %s: %d, the sessions have %d", c.unit, c.at, c.site, c.bot, c.version, f, h, w)
			}
		}
	}
	return nil
}
