package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// Usage returns the usage report, the same as the Badger engine's for the
// same records: whole UTC days come from usage_daily; a day the period
// cuts comes from its counter too when no session of that day started
// outside the period, else from the sessions started in the cut part.
// Bad values return a *storage.FieldError.
func (s *Store) Usage(ctx context.Context, q storage.UsageQuery) (*storage.UsageReport, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	from, to := q.From.UTC(), q.To.UTC()
	counts, err := s.usageCounts(ctx, &q, from, to)
	if err != nil {
		return nil, fmt.Errorf("postgres: usage: %w", err)
	}
	refused, err := s.refusedIn(ctx, &q, from, to)
	if err != nil {
		return nil, fmt.Errorf("postgres: usage: %w", err)
	}
	return storage.UsageReportOf(from, to, counts, refused), nil
}

// usageCounts reads the session counts of [from, to) that q keeps.
func (s *Store) usageCounts(ctx context.Context, q *storage.UsageQuery, from, to time.Time) ([]storage.UsageCount, error) {
	if !from.Before(to) {
		return nil, nil
	}
	first, last := dayOf(from), dayOf(to.Add(-time.Nanosecond))
	var out []storage.UsageCount
	cut := map[time.Time]bool{} // days counted from their sessions
	for _, d := range []time.Time{first, last} {
		lo, hi := laterTime(d, from), earlierTime(d.AddDate(0, 0, 1), to)
		if cut[d] || (lo.Equal(d) && hi.Equal(d.AddDate(0, 0, 1))) {
			continue
		}
		// A cut day: its counter is exact when no session of the day
		// started outside [lo, hi).
		var outside bool
		if err := s.pool.QueryRow(ctx, selectStartedOutside,
			d, lo, hi, d.AddDate(0, 0, 1)).Scan(&outside); err != nil {
			return nil, err
		}
		if !outside {
			continue
		}
		cut[d] = true
		rows, _ := s.pool.Query(ctx, selectStarts, lo, hi, q.Site)
		c := storage.UsageCount{Day: d}
		if _, err := pgx.ForEachRow(rows, []any{&c.Bot, &c.Version, &c.Channel, &c.Sessions}, func() error {
			if q.Keeps(c.Bot, c.Version, c.Channel) {
				out = append(out, c)
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	rows, _ := s.pool.Query(ctx, selectUsageDays,
		first.Format(time.DateOnly), last.Format(time.DateOnly), q.Site)
	var c storage.UsageCount
	if _, err := pgx.ForEachRow(rows, []any{&c.Day, &c.Bot, &c.Version, &c.Channel, &c.Sessions}, func() error {
		c.Day = dayOf(c.Day)
		if !cut[c.Day] && q.Keeps(c.Bot, c.Version, c.Channel) {
			out = append(out, c)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// dayOf is t's UTC midnight.
func dayOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func laterTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlierTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// The usage report's reads: sessions by start (sessions_by_start), the
// day counters by site and day (the primary key) or, of every site, by
// day (usage_daily_by_day).
const (
	selectStartedOutside = `SELECT EXISTS (SELECT 1 FROM sessions WHERE started_at >= $1 AND started_at < $2)
		OR EXISTS (SELECT 1 FROM sessions WHERE started_at >= $3 AND started_at < $4)`
	selectStarts = `SELECT bot, version, channel, count(*) FROM sessions
		WHERE started_at >= $1 AND started_at < $2 AND ($3 = '' OR site = $3) GROUP BY bot, version, channel`
	selectUsageDays = `SELECT day, bot, version, channel, sum(sessions)::bigint FROM usage_daily
		WHERE day >= $1::date AND day <= $2::date AND ($3 = '' OR site = $3) GROUP BY day, bot, version, channel`
)
