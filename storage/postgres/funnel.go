package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// Funnel counts the story's sessions started in the period: opened and
// converted (a goal reached) per bot version of the period, the story's
// own summed; the sessions that reached each block and each goal. The
// whole UTC days of the period come from the days' counters
// (funnel_daily, counters.go), the whole hours of a day it cuts from the
// hours' (funnel_hourly), and the part of an hour it cuts, at its start
// and its end, from the sessions started then (sessions_by_start): one
// statement, whose cost is the period's days and at most two hours of
// sessions, whatever the number of sessions in it. Bad values return a
// *storage.FieldError.
func (s *Store) Funnel(ctx context.Context, q storage.FunnelQuery) (*storage.Funnel, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	p := splitPeriod(q.From, q.To)
	w := &where{} // the arguments of every part
	// Every bot's opened and converted (the conversions), the story's
	// blocks and goals.
	marks := func(kind, bot string) string {
		return `(` + kind + ` IN ('` + markOpened + `', '` + markConverted + `') OR ` + bot + ` = ` + w.arg(q.Bot) + `)`
	}
	site := func(col string) string {
		if q.Site == "" {
			return ""
		}
		return ` AND ` + col + ` = ` + w.arg(q.Site)
	}
	var parts []string
	if p.days[0].Before(p.days[1]) {
		parts = append(parts, `SELECT bot, version, kind, name, sessions AS n FROM funnel_daily
			WHERE day >= `+w.arg(p.days[0].Format(time.DateOnly))+`::date AND day < `+w.arg(p.days[1].Format(time.DateOnly))+`::date`+
			site("site")+` AND `+marks("kind", "bot"))
	}
	for _, h := range p.hours {
		parts = append(parts, `SELECT bot, version, kind, name, sessions AS n FROM funnel_hourly
			WHERE hour >= `+w.arg(h[0])+` AND hour < `+w.arg(h[1])+site("site")+` AND `+marks("kind", "bot"))
	}
	for _, c := range p.cut {
		parts = append(parts, `SELECT s.bot, s.version, m.kind, m.name, 1 AS n FROM sessions s CROSS JOIN LATERAL `+sqlMarks("s")+`
			WHERE s.started_at >= `+w.arg(c[0])+` AND s.started_at < `+w.arg(c[1])+site("s.site")+` AND `+marks("m.kind", "s.bot"))
	}
	rows, err := s.pool.Query(ctx, `SELECT bot, version, kind, name, sum(n)::bigint FROM (`+strings.Join(parts, "\nUNION ALL ")+`) AS c
		GROUP BY bot, version, kind, name`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: funnel: %w", unavailable(err))
	}
	t := funnelTally{}
	var c funnelCount
	_, err = pgx.ForEachRow(rows, []any{&c.bot, &c.version, &c.kind, &c.name, &c.n}, func() error {
		t[c.funnelKey] += c.n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: funnel: %w", unavailable(err))
	}
	return t.funnel(q), nil
}

// arg adds an argument and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return fmt.Sprintf("$%d", len(w.args))
}

// funnelPeriod is a funnel's period as its counters and sessions read it:
// [days[0], days[1]) whole days, hours whole hours, cut the parts of an
// hour, each [from, to).
type funnelPeriod struct {
	days  [2]time.Time
	hours [][2]time.Time
	cut   [][2]time.Time
}

// splitPeriod splits [from, to) into whole UTC days, the whole hours
// around them and the parts of an hour at either end.
func splitPeriod(from, to time.Time) funnelPeriod {
	var p funnelPeriod
	// The rows hold microseconds: from ≤ t ⇔ ceil(from) ≤ t.
	from, to = ceilMicro(from.UTC()), ceilMicro(to.UTC())
	hours, ok := wholeUnits(from, to, time.Hour, &p.cut)
	if !ok {
		return p
	}
	if days, ok := wholeUnits(hours[0], hours[1], 24*time.Hour, &p.hours); ok {
		p.days = days
	}
	return p
}

// wholeUnits returns the whole units (hours or UTC days) within [from,
// to) and appends the parts before and after them to edges. With no whole
// unit inside, it appends [from, to) itself and reports false.
func wholeUnits(from, to time.Time, unit time.Duration, edges *[][2]time.Time) ([2]time.Time, bool) {
	a, b := ceilUnit(from, unit), to.Truncate(unit)
	if !a.Before(b) {
		*edges = append(*edges, [2]time.Time{from, to})
		return [2]time.Time{}, false
	}
	if from.Before(a) {
		*edges = append(*edges, [2]time.Time{from, a})
	}
	if b.Before(to) {
		*edges = append(*edges, [2]time.Time{b, to})
	}
	return [2]time.Time{a, b}, true
}

// ceilUnit is t rounded up to a whole unit (an hour or a UTC day).
func ceilUnit(t time.Time, unit time.Duration) time.Time {
	if d := t.Truncate(unit); !d.Equal(t) {
		return d.Add(unit)
	}
	return t
}

// ceilMicro is t rounded up to a whole microsecond, what the rows hold.
func ceilMicro(t time.Time) time.Time { return ceilUnit(t, Precision) }

// funnelKey is a count's bot version and mark.
type funnelKey struct{ bot, version, kind, name string }

type funnelCount struct {
	funnelKey
	n int64
}

// funnelTally is the period's counts by bot version and mark.
type funnelTally map[funnelKey]int64

// funnel makes q's funnel of the counts: a version with no session opened
// is left out, and a block or goal no session reached.
func (t funnelTally) funnel(q storage.FunnelQuery) *storage.Funnel {
	f := &storage.Funnel{}
	blocks, goals := map[string]int64{}, map[string]int64{}
	for k, n := range t {
		if k.kind != markOpened || n == 0 {
			continue
		}
		ref := funnelKey{bot: k.bot, version: k.version}
		c := storage.Conversion{Bot: k.bot, Version: k.version, Opened: int(n),
			Converted: int(t[funnelKey{k.bot, k.version, markConverted, ""}])}
		f.Versions = append(f.Versions, c)
		if ref.bot != q.Bot || (q.Version != "" && ref.version != q.Version) {
			continue
		}
		f.Opened += c.Opened
		f.Converted += c.Converted
	}
	for k, n := range t {
		if k.bot != q.Bot || (q.Version != "" && k.version != q.Version) {
			continue
		}
		switch k.kind {
		case markBlock:
			blocks[k.name] += n
		case markGoal:
			goals[k.name] += n
		}
	}
	f.Blocks, f.Goals = counts(blocks), counts(goals)
	f.Sort() // in Go: byte order, whatever the database's collation
	return f
}

// counts lists the non-zero counts of m.
func counts(m map[string]int64) []storage.Count {
	var out []storage.Count
	for k, n := range m {
		if n != 0 {
			out = append(out, storage.Count{Key: k, Count: n})
		}
	}
	return out
}
