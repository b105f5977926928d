package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/parley-chat/parley/storage"
)

// refusals are the refused starts counted in memory and not stored yet
// (CountRefused).
type refusals struct {
	mu     sync.Mutex
	counts map[refusalCell]int64
}

// refusalCell is one refused_hourly row: an hour of one reason on one
// site, bot version and channel.
type refusalCell struct {
	site                  string
	hour                  time.Time // UTC, to the hour
	reason                string
	bot, version, channel string
}

// CountRefused counts a refused start. It only adds to a counter in
// memory: an attack refused thousands of times a second must not cost as
// many writes. FlushRefused (the gateway calls it every few seconds) and
// Close store the counts; the usage report adds those not stored yet.
func (s *Store) CountRefused(r storage.Refusal) {
	c := refusalCell{site: r.Site, hour: r.At.UTC().Truncate(time.Hour), reason: r.Reason, bot: r.Bot, version: r.Version, channel: r.Channel}
	s.refused.mu.Lock()
	defer s.refused.mu.Unlock()
	if s.refused.counts == nil {
		s.refused.counts = map[refusalCell]int64{}
	}
	s.refused.counts[c]++
}

// FlushRefused adds the refusals counted since the last flush to their
// stored counters, in one statement. On an error they stay counted in
// memory for the next flush.
func (s *Store) FlushRefused(ctx context.Context) error {
	s.refused.mu.Lock()
	defer s.refused.mu.Unlock()
	if len(s.refused.counts) == 0 {
		return nil
	}
	var sites, reasons, bots, versions, channels []string
	var hours []time.Time
	var starts []int64
	for c, n := range s.refused.counts {
		sites, hours, reasons = append(sites, c.site), append(hours, c.hour), append(reasons, c.reason)
		bots, versions, channels = append(bots, c.bot), append(versions, c.version), append(channels, c.channel)
		starts = append(starts, n)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO refused_hourly (site, hour, reason, bot, version, channel, starts)
		SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])
		ON CONFLICT (site, hour, reason, bot, version, channel) DO UPDATE SET starts = refused_hourly.starts + excluded.starts`,
		sites, hours, reasons, bots, versions, channels, starts)
	if err != nil {
		return fmt.Errorf("postgres: flush refused: %w", err)
	}
	clear(s.refused.counts)
	return nil
}

// refusedIn returns the refusal counters of the hours that overlap
// [from, to) and pass q's filters: the stored ones and those still in
// memory, read under the lock so a flush in between counts nothing twice.
func (s *Store) refusedIn(ctx context.Context, q *storage.UsageQuery, from, to time.Time) ([]storage.RefusedCount, error) {
	if !from.Before(to) {
		return nil, nil
	}
	first, last := storage.RefusedHours(from, to)
	s.refused.mu.Lock()
	defer s.refused.mu.Unlock()
	rows, err := s.pool.Query(ctx, selectRefused, first, last, q.Site)
	if err != nil {
		return nil, err
	}
	var out []storage.RefusedCount
	var c storage.RefusedCount
	var bot, version, channel string
	for rows.Next() {
		if err := rows.Scan(&c.Hour, &c.Reason, &bot, &version, &channel, &c.Starts); err != nil {
			rows.Close()
			return nil, err
		}
		if q.Keeps(bot, version, channel) {
			out = append(out, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for c, n := range s.refused.counts {
		if (q.Site == "" || c.site == q.Site) && !c.hour.Before(first) && !c.hour.After(last) && q.Keeps(c.bot, c.version, c.channel) {
			out = append(out, storage.RefusedCount{Hour: c.hour, Reason: c.reason, Starts: n})
		}
	}
	return out, nil
}

// selectRefused reads the refusal counters of a range of hours, by site
// and hour (the primary key) or, of every site, by hour
// (refused_hourly_by_hour).
const selectRefused = `SELECT hour, reason, bot, version, channel, sum(starts)::bigint FROM refused_hourly
	WHERE hour >= $1 AND hour <= $2 AND ($3 = '' OR site = $3)
	GROUP BY hour, reason, bot, version, channel`
