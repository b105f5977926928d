package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parley-chat/parley/storage"
)

// sweepBatch is how many visitors a retention sweep reads at once.
const sweepBatch = 512

// sqlErasing lists fenced visitors after an ID (visitors_erasing).
const sqlErasing = `SELECT id FROM visitors WHERE erasing AND id > $1 ORDER BY id LIMIT $2`

// sqlSites lists the sites with visitors, one probe of visitors_by_site_seen each (PostgreSQL reads every row for a DISTINCT).
const sqlSites = `WITH RECURSIVE site AS (
	SELECT min(site) AS name FROM visitors
	UNION ALL
	SELECT (SELECT min(site) FROM visitors WHERE site > site.name) FROM site WHERE site.name IS NOT NULL
) SELECT name FROM site WHERE name IS NOT NULL`

// sqlSeenBefore reads a site's visitors last seen before a cutoff, after a position, oldest first (visitors_by_site_seen).
const sqlSeenBefore = `SELECT id, last_seen_at FROM visitors
	WHERE site = $1 AND last_seen_at < $2 AND (last_seen_at, id) > ($3, $4)
	ORDER BY last_seen_at, id LIMIT $5`

// sqlExpire fences a visitor if it was not seen since the cutoff: the decision and the fence in one statement.
const sqlExpire = `UPDATE visitors SET erasing = true WHERE id = $1 AND site = $2 AND last_seen_at < $3`

// SweepRetention erases every visitor whose site keeps data for a period
// that has passed since the visitor was last seen, as of now, and first
// finishes the erasures a crash interrupted. It reads the visitors of each
// site by last-seen time (visitors_by_site_seen), oldest first, so its
// cost follows what it deletes. A visitor is erased as EraseVisitor does;
// usage counters stay. It returns what it deleted so far with ctx's error
// if ctx ends first.
func (s *Store) SweepRetention(ctx context.Context, now time.Time, r storage.Retention) (storage.SweepResult, error) {
	var res storage.SweepResult
	// An erase that cannot be finished now is reported, and keeps no
	// other visitor from expiring.
	unfinished := s.finishErasing(ctx, &res)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("postgres: retention sweep: %w", err)
	}
	if unfinished != nil {
		unfinished = fmt.Errorf("postgres: retention sweep: %w", unfinished)
	}
	sites, err := s.sites(ctx)
	if err != nil {
		return res, errors.Join(unfinished, fmt.Errorf("postgres: retention sweep: %w", err))
	}
	for _, site := range sites {
		keep := r.For(site)
		if keep <= 0 {
			continue
		}
		if err := s.sweepSite(ctx, site, utc(now.Add(-keep)), &res); err != nil {
			return res, errors.Join(unfinished, fmt.Errorf("postgres: retention sweep of site %s: %w", site, err))
		}
	}
	return res, unfinished
}

// finishErasing finishes the erasure of every fenced visitor (the
// process died half-way through one, or another is under way: both
// deleting the same rows is harmless), telling the OnErase hook again. An
// erase that fails is reported after the others were tried.
func (s *Store) finishErasing(ctx context.Context, res *storage.SweepResult) error {
	var failed error // of the erases that could not be finished
	after := ""
	for {
		ids, err := s.ids(ctx, sqlErasing, after, sweepBatch)
		if err != nil {
			return errors.Join(failed, err)
		}
		for _, id := range ids {
			s.erasing(id)
			var er storage.EraseResult
			err := s.eraseFenced(ctx, id, &er)
			res.Add(er)
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				failed = errors.Join(failed, err)
			}
		}
		if len(ids) < sweepBatch {
			return failed
		}
		after = ids[len(ids)-1]
	}
}

// sites lists the sites that have visitors, one index probe per site (a
// loose scan of visitors_by_site_seen: PostgreSQL reads every row for a
// DISTINCT).
func (s *Store) sites(ctx context.Context) ([]string, error) {
	return s.ids(ctx, sqlSites)
}

// sweepSite erases the visitors of site last seen before cutoff, reading
// them in batches from the oldest on.
func (s *Store) sweepSite(ctx context.Context, site string, cutoff time.Time, res *storage.SweepResult) error {
	var afterAt time.Time
	afterID := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows, _ := s.pool.Query(ctx, sqlSeenBefore, site, cutoff, afterAt, afterID, sweepBatch)
		var batch []seenRow
		for rows.Next() {
			var e seenRow
			if err := rows.Scan(&e.id, &e.at); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range batch {
			if err := s.expire(ctx, site, e.id, cutoff, res); err != nil {
				return err
			}
		}
		if len(batch) < sweepBatch {
			return nil
		}
		afterAt, afterID = batch[len(batch)-1].at, batch[len(batch)-1].id
	}
}

// expireHook, if set (tests only), runs as expire begins: after the sweep
// read the visitor as not seen since the cutoff, before it decides.
var expireHook func(visitorID string)

// seenRow is a visitor as the sweep reads it.
type seenRow struct {
	id string
	at time.Time
}

// expire erases the visitor if it was last seen before cutoff. The
// decision and the fence are one statement: a visitor who comes back
// meanwhile either moved its last-seen time first, and is kept, or finds
// the fence and is refused, so nothing acked is ever erased for being too
// old.
func (s *Store) expire(ctx context.Context, site, id string, cutoff time.Time, res *storage.SweepResult) error {
	if expireHook != nil {
		expireHook(id)
	}
	tag, err := s.pool.Exec(ctx, sqlExpire, id, site, cutoff)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return nil // seen since the cutoff, or gone
	}
	s.erasing(id)
	var er storage.EraseResult
	err = s.eraseFenced(ctx, id, &er)
	res.Add(er)
	return err
}
