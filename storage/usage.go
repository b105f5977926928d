package storage

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// usageKeyOf is the per-day usage counter of the session's bot, version
// and channel.
func usageKeyOf(sess *Session) []byte {
	return usageKey(sess.Site, sess.StartedAt.UTC().Format("20060102"), sess.Bot, sess.Version, sess.Channel)
}

// addUsage adds to the usage counters, by key. Its callers (the count of
// new sessions, startcount.go, and Bulk) hold usageMu, so the
// read-modify-write never conflicts.
func addUsage(txn *badger.Txn, add map[string]uint64) error {
	for k, n := range add {
		have, err := getCounter(txn, []byte(k))
		if err != nil {
			return err
		}
		if err := txn.Set([]byte(k), binary.BigEndian.AppendUint64(nil, have+n)); err != nil {
			return err
		}
	}
	return nil
}

func usageKey(site, day, bot, version, channel string) []byte {
	var b bytes.Buffer
	b.Write(key("u", site, day, ""))
	b.WriteString(bot)
	b.WriteByte(0)
	b.WriteString(version)
	b.WriteByte(0)
	b.WriteString(channel)
	return b.Bytes()
}

// UsageQuery selects the usage report (seed 002): the sessions started in
// [From, To), optionally of one site, bot, version or channel.
type UsageQuery struct {
	From, To time.Time // both required
	Site     string
	Bot      string
	Version  string
	Channel  string
}

// UsageReport counts the sessions consumed in a period.
type UsageReport struct {
	From, To time.Time
	Total    int64
	Days     []Count // every UTC day the period touches, oldest first, zeros included
	Months   []Count // "2006-01", oldest first
	Bots     []Count // most first
	Versions []VersionCount
	Channels []Count

	// Refused counts the session starts refused for a rate limit (see
	// Refusal), to the hour: every hour that overlaps the period counts
	// whole. RefusedDays has one entry per entry of Days; RefusedReasons
	// is most first.
	Refused        int64
	RefusedDays    []Count
	RefusedReasons []Count
}

// Count is one bucket of the usage report.
type Count struct {
	Key   string
	Count int64
}

// VersionCount is the sessions of one version of a bot.
type VersionCount struct {
	Bot, Version string
	Count        int64
}

// MaxUsageDays bounds a usage report's period (about ten years).
const MaxUsageDays = 3660

// usageCell is one counter: a day of one bot version on one channel.
type usageCell struct {
	day                   string // yyyymmdd
	bot, version, channel string
}

// Usage returns the usage report. Whole UTC days come from the per-day
// counters; a day the period cuts comes from the counter too when no
// session of that day falls outside the period (one seek each way), else
// from the sessions started in the cut part. Bad values return a
// *FieldError.
func (s *Store) Usage(ctx context.Context, q UsageQuery) (*UsageReport, error) {
	// Fold committed turns first, so the answer is exact (indexer.go).
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	from, to := q.From.UTC(), q.To.UTC()
	cells := map[usageCell]int64{}
	err := s.db.View(func(txn *badger.Txn) error {
		if !from.Before(to) {
			return nil
		}
		first, last := dayOf(from), dayOf(to.Add(-time.Nanosecond))
		useCounter := map[string]bool{}
		for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
			lo, hi := maxTime(d, from), minTime(d.AddDate(0, 0, 1), to)
			whole := lo.Equal(d) && hi.Equal(d.AddDate(0, 0, 1))
			if !whole && (d.Equal(first) || d.Equal(last)) {
				// A cut day: the counter is exact when no session of the day
				// started outside [lo, hi).
				if !startedIn(txn, d, lo) && !startedIn(txn, hi, d.AddDate(0, 0, 1)) {
					whole = true
				} else if err := countStarts(txn, lo, hi, &q, cells); err != nil {
					return err
				}
			}
			useCounter[d.Format("20060102")] = whole
		}
		return countDays(txn, &q, first.Format("20060102"), last.Format("20060102"), useCounter, cells)
	})
	if err != nil {
		return nil, fmt.Errorf("storage: usage: %w", err)
	}
	r := buildReport(from, to, cells)
	if err := s.refusedIn(&q, r); err != nil {
		return nil, fmt.Errorf("storage: usage: %w", err)
	}
	return r, nil
}

// Validate reports a query the usage report refuses, as a *FieldError.
func (q *UsageQuery) Validate() error {
	switch {
	case q.From.IsZero():
		return &FieldError{"From", "is required"}
	case q.To.IsZero():
		return &FieldError{"To", "is required"}
	case q.From.After(q.To):
		return &FieldError{"From", "is after to"}
	case q.To.Sub(q.From) > MaxUsageDays*24*time.Hour:
		return &FieldError{"From", fmt.Sprintf("the period may span at most %d days", MaxUsageDays)}
	}
	return nil
}

// countDays adds the counters of the days marked in use, of every site.
func countDays(txn *badger.Txn, q *UsageQuery, first, last string, use map[string]bool, cells map[usageCell]int64) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("u/")})
	defer it.Close()
	site := q.Site
	if site == "" {
		it.Rewind()
	} else {
		it.Seek(key("u", site, ""))
	}
	for it.Valid() {
		k := it.Item().Key()
		cur, _, _ := strings.Cut(string(k[2:]), "/")
		if q.Site != "" && cur != q.Site {
			return nil
		}
		// Within the site, the days in range; then skip to the next site.
		from, to := key("u", cur, first), key("u", cur, last, "\xff")
		for it.Seek(from); it.Valid() && bytes.Compare(it.Item().Key(), to) < 0; it.Next() {
			rest := it.Item().Key()[len(from)-len(first):]
			day, cell, _ := bytes.Cut(rest, []byte("/"))
			parts := bytes.Split(cell, []byte{0})
			if len(parts) != 3 || !use[string(day)] {
				continue
			}
			c := usageCell{string(day), string(parts[0]), string(parts[1]), string(parts[2])}
			if !q.keeps(c.bot, c.version, c.channel) {
				continue
			}
			var n uint64
			if err := it.Item().Value(func(b []byte) error {
				if len(b) == 8 {
					n = binary.BigEndian.Uint64(b)
				}
				return nil
			}); err != nil {
				return err
			}
			cells[c] += int64(n)
		}
		it.Seek(key("u", cur+"0")) // '0' follows '/': the next site
	}
	return nil
}

// startedIn reports whether any session started in [lo, hi).
func startedIn(txn *badger.Txn, lo, hi time.Time) bool {
	if !lo.Before(hi) {
		return false
	}
	prefix := key("is", facetAll, "")
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	it.Seek(append(prefix, timeKey(lo)...))
	return it.ValidForPrefix(prefix) && suffixTime(it.Item().Key()[len(prefix):]).Before(hi)
}

// countStarts counts the sessions started in [lo, hi) one by one.
func countStarts(txn *badger.Txn, lo, hi time.Time, q *UsageQuery, cells map[usageCell]int64) error {
	prefix := key("is", facetAll, "")
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	end := append(append([]byte(nil), prefix...), timeKey(hi)...)
	for it.Seek(append(prefix, timeKey(lo)...)); it.ValidForPrefix(prefix) && bytes.Compare(it.Item().Key(), end) < 0; it.Next() {
		err := it.Item().Value(func(b []byte) error {
			p := strings.Split(string(b), "\x00")
			if len(p) != 5 || (q.Site != "" && p[1] != q.Site) || !q.keeps(p[2], p[3], p[4]) {
				return nil
			}
			cells[usageCell{lo.Format("20060102"), p[2], p[3], p[4]}]++
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (q *UsageQuery) keeps(bot, version, channel string) bool {
	return (q.Bot == "" || q.Bot == bot) && (q.Version == "" || q.Version == version) && (q.Channel == "" || q.Channel == channel)
}

// buildReport sums the cells into the report's buckets.
func buildReport(from, to time.Time, cells map[usageCell]int64) *UsageReport {
	r := &UsageReport{From: from, To: to}
	days, months := map[string]int64{}, map[string]int64{}
	bots, channels := map[string]int64{}, map[string]int64{}
	versions := map[[2]string]int64{}
	for c, n := range cells {
		r.Total += n
		days[c.day] += n
		months[c.day[:6]] += n
		bots[c.bot] += n
		channels[c.channel] += n
		versions[[2]string{c.bot, c.version}] += n
	}
	if from.Before(to) {
		for d := dayOf(from); d.Before(to); d = d.AddDate(0, 0, 1) {
			r.Days = append(r.Days, Count{d.Format("2006-01-02"), days[d.Format("20060102")]})
		}
		for m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC); m.Before(to); m = m.AddDate(0, 1, 0) {
			r.Months = append(r.Months, Count{m.Format("2006-01"), months[m.Format("200601")]})
		}
	}
	r.Bots, r.Channels = byCount(bots), byCount(channels)
	for k, n := range versions {
		r.Versions = append(r.Versions, VersionCount{k[0], k[1], n})
	}
	slices.SortFunc(r.Versions, func(a, b VersionCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Or(strings.Compare(a.Bot, b.Bot), strings.Compare(a.Version, b.Version))
	})
	return r
}

// byCount lists a map's buckets, most first, then by key.
func byCount(m map[string]int64) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{k, n})
	}
	slices.SortFunc(out, func(a, b Count) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Key, b.Key))
	})
	return out
}

func dayOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
