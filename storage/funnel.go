package storage

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// FunnelQuery selects a story's funnel: its sessions started in [From,
// To), of one bot (required) and optionally one version and site.
type FunnelQuery struct {
	From, To time.Time // both required
	Site     string
	Bot      string
	Version  string
}

// Funnel is where a story's sessions went in a period, and the goal
// conversion of every bot and version in it.
type Funnel struct {
	// Opened counts the story's sessions started in the period; Converted
	// those that reached any goal.
	Opened, Converted int
	// Blocks are the story's blocks with the sessions that reached each,
	// most first (a block's ID breaks ties): a funnel.
	Blocks []Count
	// Goals are the goals reached, with the sessions that reached each.
	Goals []Count
	// Versions are the goal conversion of every bot and version with
	// sessions in the period (of the site, if one is asked for), the
	// story's own included: sessions opened and converted.
	Versions []Conversion
}

// Conversion is one bot version's sessions opened and those reaching a goal.
type Conversion struct {
	Bot, Version      string
	Opened, Converted int
}

// maxFunnelDays bounds a funnel's period, as the usage report's: it reads
// a few counters per day of it.
const maxFunnelDays = 3660

// Funnel counts the story's sessions in the period. Whole UTC days come
// from the per-day counters (uf/, funnel_counts.go): a few keys a day,
// whatever the number of sessions; the whole hours of a day the period
// cuts from the per-hour counters (uh/). An hour the period cuts comes
// from the dashboard's index (is/: all, goal, goal=NAME, blk=NAME), one key
// per session and facet: either the part of the hour inside the period,
// or, when that is the larger part, the hour's counters less the parts
// outside it. So the answer is exact and costs at most about an hour's
// index keys besides the counters. Bad values return a *FieldError.
func (s *Store) Funnel(ctx context.Context, q FunnelQuery) (*Funnel, error) {
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	if err := q.Check(); err != nil {
		return nil, err
	}
	acc := funnelTally{}
	err := s.db.View(func(txn *badger.Txn) error {
		r := &funnelReader{ctx: ctx, txn: txn, site: q.Site, acc: acc}
		defer r.close()
		return r.period(q.From.UTC(), q.To.UTC())
	})
	if err != nil {
		return nil, fmt.Errorf("storage: funnel: %w", err)
	}
	return buildFunnel(acc, q), nil
}

// funnelReader adds up the funnel's counts of a period, of one site or all.
type funnelReader struct {
	ctx  context.Context
	txn  *badger.Txn
	site string
	acc  funnelTally // by cell (the index's counts under no day or hour): buildFunnel sums them by bot version
	// facets are the goal= and blk= facets of the index, once read.
	facets []string
	// index reads is/, opened once: every seek of a new iterator would
	// cost more than the few keys it reads.
	index *badger.Iterator
}

// seek returns the index iterator at k.
func (r *funnelReader) seek(k []byte) *badger.Iterator {
	if r.index == nil {
		r.index = r.txn.NewIterator(badger.IteratorOptions{Prefix: []byte("is/")})
	}
	r.index.Seek(k)
	return r.index
}

func (r *funnelReader) close() {
	if r.index != nil {
		r.index.Close()
	}
}

// period adds the counts of the sessions started in [from, to): its
// whole days from the days' counters, the whole hours of a day it cuts
// from the hours', and an hour it cuts from the index.
func (r *funnelReader) period(from, to time.Time) error { return r.span(unitDay, from, to) }

// span adds the counts of [from, to) by the units u: the whole ones from
// their counters, a cut one by hours (a day) or from the index (an hour).
func (r *funnelReader) span(u *funnelUnit, from, to time.Time) error {
	first, last := u.trunc(from), u.trunc(to.Add(-time.Nanosecond))
	// The counters are read for [lo, hi]; a cut unit read otherwise
	// drops out of that range (it is first or last).
	lo, hi := first, last
	units := []time.Time{first}
	if last.After(first) {
		units = append(units, last)
	}
	for _, d := range units {
		end := u.next(d)
		in0, in1 := maxTime(d, from), minTime(end, to)
		if in0.Equal(d) && in1.Equal(end) {
			continue // a whole one
		}
		if u == unitDay || r.outside(d, end, in0, in1) >= in1.Sub(in0) {
			var err error
			if u == unitDay {
				err = r.span(unitHour, in0, in1)
			} else {
				err = r.started(in0, in1, 1)
			}
			if err != nil {
				return err
			}
			if d.Equal(first) {
				lo = u.next(first)
			}
			if d.Equal(last) {
				hi = last.Add(-1) // before last: [lo, hi] leaves it out
			}
			continue
		}
		// Most of the hour: its counters less the parts outside.
		if err := r.started(d, in0, -1); err != nil {
			return err
		}
		if err := r.started(in1, end, -1); err != nil {
			return err
		}
	}
	if hi.Before(lo) {
		return nil
	}
	return readFunnelCounts(r.ctx, r.txn, u, lo, u.trunc(hi), r.site, r.acc)
}

// outside estimates what reading the parts of [d, end) outside [in0,
// in1) from the index costs, as their length: a part no session started
// in costs nothing.
func (r *funnelReader) outside(d, end, in0, in1 time.Time) time.Duration {
	var n time.Duration
	if r.startedIn(d, in0) {
		n += in0.Sub(d)
	}
	if r.startedIn(in1, end) {
		n += end.Sub(in1)
	}
	return n
}

// startedIn reports whether any session started in [lo, hi).
func (r *funnelReader) startedIn(lo, hi time.Time) bool {
	if !lo.Before(hi) {
		return false
	}
	prefix := key("is", facetAll, "")
	it := r.seek(append(prefix, timeKey(lo)...))
	return it.ValidForPrefix(prefix) && suffixTime(it.Item().Key()[len(prefix):]).Before(hi)
}

// started adds sign times the counts of the sessions started in [lo, hi),
// read from the index.
func (r *funnelReader) started(lo, hi time.Time, sign int64) error {
	if !lo.Before(hi) {
		return nil
	}
	if r.facets == nil {
		r.facets = r.facetValues("goal", "blk")
	}
	for _, f := range append([]string{facetAll, facetAnyGoal}, r.facets...) {
		err := r.eachStarted(key("is", f, ""), lo, hi, func(site string, ref startRef) {
			if r.site != "" && site != r.site {
				return
			}
			c := funnelCell{site: site, bot: ref.bot, version: ref.version}
			m := r.acc[c]
			if m == nil {
				m = map[string]int64{}
				r.acc[c] = m
			}
			m[f] += sign
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// buildFunnel makes the funnel of q from the counts of its period.
func buildFunnel(acc funnelTally, q FunnelQuery) *Funnel {
	story := func(v startRef) bool { return v.bot == q.Bot && (q.Version == "" || v.version == q.Version) }
	byRef := map[startRef]map[string]int64{}
	for c, m := range acc {
		ref := startRef{c.bot, c.version}
		if byRef[ref] == nil {
			byRef[ref] = map[string]int64{}
		}
		for f, n := range m {
			byRef[ref][f] += n
		}
	}
	f := &Funnel{}
	blocks, goals := map[string]int64{}, map[string]int64{}
	for ref, m := range byRef {
		if m[facetAll] == 0 {
			continue
		}
		opened, converted := int(m[facetAll]), int(m[facetAnyGoal])
		f.Versions = append(f.Versions, Conversion{Bot: ref.bot, Version: ref.version, Opened: opened, Converted: converted})
		if !story(ref) {
			continue
		}
		f.Opened += opened
		f.Converted += converted
		for facet, n := range m {
			if v, ok := strings.CutPrefix(facet, "blk="); ok {
				blocks[v] += n
			} else if v, ok := strings.CutPrefix(facet, "goal="); ok {
				goals[v] += n
			}
		}
	}
	f.Blocks, f.Goals = facetCounts(blocks), facetCounts(goals)
	f.Sort()
	return f
}

// facetCounts lists the non-zero counts of escaped facet values by their
// labels.
func facetCounts(m map[string]int64) []Count {
	var out []Count
	for v, n := range m {
		if n == 0 {
			continue
		}
		label, err := url.PathUnescape(v)
		if err != nil {
			label = v
		}
		out = append(out, Count{Key: label, Count: n})
	}
	return out
}

// startRef is a bot version, as an is/ entry's value names it.
type startRef struct{ bot, version string }

// parseStart reads an is/ value (startValue): its site and bot version.
func parseStart(v []byte) (site string, ref startRef) {
	parts := bytes.SplitN(v, []byte{0}, 5)
	if len(parts) < 4 {
		return "", startRef{}
	}
	return string(parts[1]), startRef{string(parts[2]), string(parts[3])}
}

// eachStarted calls fn with the site and bot version of every is/ entry
// under prefix (one facet) whose session started in [lo, hi).
func (r *funnelReader) eachStarted(prefix []byte, lo, hi time.Time, fn func(string, startRef)) error {
	end := append(slices.Clip(prefix), timeKey(hi)...)
	n := 0
	for it := r.seek(append(slices.Clip(prefix), timeKey(lo)...)); it.Valid(); it.Next() {
		if bytes.Compare(it.Item().Key(), end) >= 0 {
			break
		}
		if n++; n%4096 == 0 && r.ctx.Err() != nil {
			return r.ctx.Err()
		}
		err := it.Item().Value(func(v []byte) error {
			fn(parseStart(v))
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// facetValues lists the facets of the index with the given names (goal,
// blk), one NAME=VALUE each. It steps from one value's keys to the next
// value's by seeking: a key per value.
func (r *funnelReader) facetValues(names ...string) []string {
	out := []string{}
	for _, name := range names {
		head := []byte("is/" + name + "=")
		for it := r.seek(head); it.ValidForPrefix(head); {
			k := it.Item().Key()[len(head):]
			i := bytes.IndexByte(k, '/')
			if i < 0 {
				it.Next()
				continue
			}
			out = append(out, name+"="+string(k[:i]))
			// '0' follows '/': past every key of this value.
			it.Seek(append(append(slices.Clip(head), k[:i]...), '0'))
		}
	}
	return out
}
