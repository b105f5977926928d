package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// Funnel counts the story's sessions started in the period: opened and
// converted (a goal reached) per bot version of the period, the story's
// own summed; the sessions that reached each block and each goal. Three
// queries in one round trip, counted by the database: the period's
// sessions by start (sessions_by_start) and the story's by bot and start
// (sessions_by_bot_start). Bad values return a *storage.FieldError.
func (s *Store) Funnel(ctx context.Context, q storage.FunnelQuery) (*storage.Funnel, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	all := &where{}
	all.period("started_at", q.From, q.To)
	if q.Site != "" {
		all.add("site = ?", q.Site)
	}
	story := &where{}
	story.add("bot = ?", q.Bot)
	story.period("started_at", q.From, q.To)
	if q.Site != "" {
		story.add("site = ?", q.Site)
	}
	if q.Version != "" {
		story.add("version = ?", q.Version)
	}
	f := &storage.Funnel{}
	b := &pgx.Batch{}
	b.Queue(`SELECT bot, version, count(*), count(*) FILTER (WHERE cardinality(goals) > 0)
		FROM sessions WHERE `+all.String()+` GROUP BY bot, version`, all.args...).
		Query(func(rows pgx.Rows) error {
			var c storage.Conversion
			_, err := pgx.ForEachRow(rows, []any{&c.Bot, &c.Version, &c.Opened, &c.Converted}, func() error {
				f.Versions = append(f.Versions, c)
				if c.Bot == q.Bot && (q.Version == "" || c.Version == q.Version) {
					f.Opened += c.Opened
					f.Converted += c.Converted
				}
				return nil
			})
			return err
		})
	// A session counts once under each block and goal, as a facet.
	for _, facet := range []struct {
		col string
		out *[]storage.Count
	}{{"reached", &f.Blocks}, {"goals", &f.Goals}} {
		b.Queue(`SELECT v, count(*) FROM sessions CROSS JOIN LATERAL (SELECT DISTINCT v FROM unnest(`+facet.col+`) AS v) AS f
			WHERE `+story.String()+` GROUP BY v`, story.args...).
			Query(func(rows pgx.Rows) error {
				var c storage.Count
				_, err := pgx.ForEachRow(rows, []any{&c.Key, &c.Count}, func() error {
					*facet.out = append(*facet.out, c)
					return nil
				})
				return err
			})
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("postgres: funnel: %w", err)
	}
	f.Sort() // in Go: byte order, whatever the database's collation
	return f, nil
}
