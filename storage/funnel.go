package storage

import (
	"bytes"
	"cmp"
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

// maxFunnelDays bounds a funnel's period: it counts every session of it.
const maxFunnelDays = 3660

// Funnel counts the story's sessions in the period from the dashboard's
// index (is/): every session started (all), those that reached a goal
// (goal, goal=NAME) and every block reached (blk=NAME), read as key ranges
// of the period. It reads one key per session and block reached in the
// period, so it answers exactly but costs about a second per million
// such keys. Bad values return a *FieldError.
func (s *Store) Funnel(ctx context.Context, q FunnelQuery) (*Funnel, error) {
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	if err := q.Check(); err != nil {
		return nil, err
	}
	story := func(v startRef) bool { return v.bot == q.Bot && (q.Version == "" || v.version == q.Version) }
	f := &Funnel{}
	err := s.db.View(func(txn *badger.Txn) error {
		opened, err := countByVersion(ctx, txn, facetAll, q)
		if err != nil {
			return err
		}
		converted, err := countByVersion(ctx, txn, facetAnyGoal, q)
		if err != nil {
			return err
		}
		for v, n := range opened {
			f.Versions = append(f.Versions, Conversion{Bot: v.bot, Version: v.version, Opened: n, Converted: converted[v]})
			if story(v) {
				f.Opened += n
				f.Converted += converted[v]
			}
		}
		slices.SortFunc(f.Versions, func(a, b Conversion) int {
			return cmp.Or(strings.Compare(a.Bot, b.Bot), strings.Compare(a.Version, b.Version))
		})
		if f.Blocks, err = countFacets(ctx, txn, "blk", q, story); err != nil {
			return err
		}
		f.Goals, err = countFacets(ctx, txn, "goal", q, story)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: funnel: %w", err)
	}
	return f, nil
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

// eachInPeriod calls fn with the value of every is/ entry under prefix
// (one facet) whose start lies in the query's period and site.
func eachInPeriod(ctx context.Context, txn *badger.Txn, prefix []byte, q FunnelQuery, fn func(startRef)) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 256})
	defer it.Close()
	end := append(slices.Clip(prefix), timeKey(q.To)...)
	n := 0
	for it.Seek(append(slices.Clip(prefix), timeKey(q.From)...)); it.Valid(); it.Next() {
		if bytes.Compare(it.Item().Key(), end) >= 0 {
			break
		}
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		err := it.Item().Value(func(v []byte) error {
			site, ref := parseStart(v)
			if q.Site == "" || site == q.Site {
				fn(ref)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// countByVersion counts the sessions of one facet in the period, by bot
// version.
func countByVersion(ctx context.Context, txn *badger.Txn, facet string, q FunnelQuery) (map[startRef]int, error) {
	out := map[startRef]int{}
	err := eachInPeriod(ctx, txn, key("is", facet, ""), q, func(r startRef) { out[r]++ })
	return out, err
}

// countFacets counts, for every value of the facet name (blk, goal), the
// story's sessions in the period under it, most first. It steps from one
// value's keys to the next value's by seeking, reading only the period.
func countFacets(ctx context.Context, txn *badger.Txn, name string, q FunnelQuery, story func(startRef) bool) ([]Count, error) {
	head := []byte("is/" + name + "=")
	it := txn.NewIterator(badger.IteratorOptions{Prefix: head})
	var values []string
	for it.Seek(head); it.ValidForPrefix(head); {
		k := it.Item().Key()[len(head):]
		i := bytes.IndexByte(k, '/')
		if i < 0 {
			it.Next()
			continue
		}
		values = append(values, string(k[:i]))
		// '0' follows '/': past every key of this value.
		it.Seek(append(append(slices.Clip(head), k[:i]...), '0'))
	}
	it.Close()
	var out []Count
	for _, v := range values {
		n := 0
		err := eachInPeriod(ctx, txn, key("is", name+"="+v, ""), q, func(r startRef) {
			if story(r) {
				n++
			}
		})
		if err != nil {
			return nil, err
		}
		if n == 0 {
			continue
		}
		label, err := url.PathUnescape(v)
		if err != nil {
			label = v
		}
		out = append(out, Count{Key: label, Count: int64(n)})
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Key, b.Key)) })
	return out, nil
}
