package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/storage"
)

// The Knowledge gaps report's counters (migration 0009_counters.sql):
// every row of gaps keeps the question it asks (norm: storage.NormalizeGap
// of its text), whether it is its session's first text of that question
// (is_first, and when that was: first_at) and its session's site and bot;
// gap_daily counts, per UTC day, site, bot and question, the texts said
// that day and the sessions that first asked it that day. Every writer of
// gaps adds its change in the statement that writes them, as the funnel's
// counters (counters.go, the same shards): the start (start.go), the
// turns' statement (turnsql.go), erase (erase.go); parley migrate's load
// counts afresh (load.go). Verify recounts them.

// gapColumns are what a new row of gaps holds besides its session, site
// and bot, as arrays for an unnest: n, at, text, norm, is_first,
// first_at.
type gapColumns struct {
	ns          []int32
	at, firstAt []any
	text, norm  []string
	first       []bool
	firstAsked  map[string]time.Time // by question
}

// newGapColumns returns the columns of the texts added to a session
// whose earlier texts are prev (numbered from len(prev)): a text is its
// session's first of its question unless an earlier one asked it too.
func newGapColumns(prev, added []storage.Gap) *gapColumns {
	c := &gapColumns{firstAsked: map[string]time.Time{}}
	for _, g := range prev {
		if k := storage.NormalizeGap(g.Text); c.firstAsked[k].IsZero() {
			c.firstAsked[k] = utc(g.At)
		}
	}
	for i, g := range added {
		k := storage.NormalizeGap(g.Text)
		first, ok := c.firstAsked[k]
		if !ok {
			first = utc(g.At)
			c.firstAsked[k] = first
		}
		c.ns = append(c.ns, int32(len(prev)+i))
		c.at, c.firstAt = append(c.at, utc(g.At)), append(c.firstAt, first)
		c.text, c.norm, c.first = append(c.text, g.Text), append(c.norm, k), append(c.first, !ok)
	}
	return c
}

// args are the columns' arrays, in gapColumns' order.
func (c *gapColumns) args() []any {
	return []any{nonNilSlice(c.ns), nonNilSlice(c.at), nonNilSlice(c.text), nonNilSlice(c.norm), nonNilSlice(c.first), nonNilSlice(c.firstAt)}
}

// gapTypes are gapColumns' array types.
var gapTypes = []string{"int", "timestamptz", "text", "text", "bool", "timestamptz"}

// addGapCounts is the CTE (gc) that adds sign times the rows of the CTE g
// (at, site, bot, norm, is_first: the texts written or deleted) to the
// days' counters of shard, in key order.
func addGapCounts(shard, sign string) string {
	return `gc AS (INSERT INTO gap_daily (day, site, bot, norm, shard, texts, sessions)
	SELECT (at AT TIME ZONE 'UTC')::date, site, bot, norm, '` + shard + `', ` + sign + `count(*), ` + sign + `count(*) FILTER (WHERE is_first)
	FROM g WHERE norm IS NOT NULL
	GROUP BY (at AT TIME ZONE 'UTC')::date, site, bot, norm ORDER BY (at AT TIME ZONE 'UTC')::date, site, bot, norm
	ON CONFLICT (day, site, bot, norm, shard) DO UPDATE SET texts = gap_daily.texts + excluded.texts, sessions = gap_daily.sessions + excluded.sessions)`
}

// sqlInsertGaps writes a new session's texts ($1 its ID, $2-$7
// gapColumns, $8 site, $9 bot) and counts them.
var sqlInsertGaps = `WITH g AS (INSERT INTO gaps (session_id, n, at, text, norm, is_first, first_at, site, bot)
	SELECT $1, u.*, $8, $9 FROM unnest(` + castArrays(2, gapTypes...) + `) AS u
	RETURNING at, site, bot, norm, is_first),
` + addGapCounts(shardStart, "") + `
SELECT 1`

// queueInsertGaps queues the writing of a new session's texts, if it has
// any.
func queueInsertGaps(b *pgx.Batch, sess *storage.Session) {
	if len(sess.Gaps) > 0 {
		b.Queue(sqlInsertGaps, append(append([]any{sess.ID}, newGapColumns(nil, sess.Gaps).args()...), sess.Site, sess.Bot)...)
	}
}

// sqlDeleteGaps deletes the session's texts ($1) and takes them off the
// counters; it returns a row for each.
var sqlDeleteGaps = `WITH g AS (DELETE FROM gaps WHERE session_id = $1 RETURNING at, site, bot, norm, is_first),
` + addGapCounts(shardErase, "-") + `
SELECT 1 FROM g`

// castArrays lists $first… cast to arrays of types.
func castArrays(first int, types ...string) string {
	return arrays(func(i int) string { return fmt.Sprintf("$%d", i) }, first, types...)
}

// sqlRecountGaps counts every text into the days' counters, replacing
// any count (two nodes counting at once write the same).
const sqlRecountGaps = `INSERT INTO gap_daily (day, site, bot, norm, shard, texts, sessions)
	SELECT (at AT TIME ZONE 'UTC')::date, site, bot, norm, '` + shardStart + `', count(*), count(*) FILTER (WHERE is_first)
	FROM gaps WHERE norm IS NOT NULL GROUP BY 1, 2, 3, 4
	ON CONFLICT (day, site, bot, norm, shard) DO UPDATE SET texts = excluded.texts, sessions = excluded.sessions`

// backfillBatch is how many sessions' texts one step of backfillGaps
// reads and writes.
const backfillBatch = 1000

// backfillGaps gives the texts an older Parley wrote their question
// (norm, is_first, first_at: computed here, storage.NormalizeGap being
// Go's) and, if there were any, counts every text afresh. Open runs it
// after the migrations, before the store serves; it reads nothing when
// every text has its question (gaps_by_norm: the NULLs).
func backfillGaps(ctx context.Context, pool *pgxpool.Pool) error {
	done := 0
	for {
		rows, _ := pool.Query(ctx, `SELECT DISTINCT session_id FROM (SELECT session_id FROM gaps WHERE norm IS NULL LIMIT $1) AS u`, backfillBatch)
		sids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("postgres: count the unanswered texts: %w", err)
		}
		if len(sids) == 0 {
			break
		}
		rows, _ = pool.Query(ctx, `SELECT session_id, at, text FROM gaps WHERE session_id = ANY($1) ORDER BY session_id, n`, sids)
		bySession := map[string][]storage.Gap{}
		var sid string
		var g storage.Gap
		if _, err := pgx.ForEachRow(rows, []any{&sid, &g.At, &g.Text}, func() error {
			bySession[sid] = append(bySession[sid], g)
			return nil
		}); err != nil {
			return fmt.Errorf("postgres: count the unanswered texts: %w", err)
		}
		var ids []string
		var cols gapColumns
		for _, sid := range slices.Sorted(maps.Keys(bySession)) {
			c := newGapColumns(nil, bySession[sid])
			for range c.ns {
				ids = append(ids, sid)
			}
			cols.ns, cols.norm = append(cols.ns, c.ns...), append(cols.norm, c.norm...)
			cols.first, cols.firstAt = append(cols.first, c.first...), append(cols.firstAt, c.firstAt...)
		}
		if _, err := pool.Exec(ctx, `UPDATE gaps SET norm = u.norm, is_first = u.is_first, first_at = u.first_at
			FROM unnest($1::text[], $2::int[], $3::text[], $4::bool[], $5::timestamptz[]) AS u(session_id, n, norm, is_first, first_at)
			WHERE gaps.session_id = u.session_id AND gaps.n = u.n`, ids, cols.ns, cols.norm, cols.first, cols.firstAt); err != nil {
			return fmt.Errorf("postgres: count the unanswered texts: %w", err)
		}
		done += len(ids)
	}
	if done == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, sql := range []string{sqlNoTimeout, sqlRecountGaps} {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: count the unanswered texts: %w", err)
	}
	return nil
}

// verifyGapChecks compare the gaps' counters, shards summed, with a
// recount of the texts, and check each text's question marks: counted
// (norm set), one first text of a question per session, the first's time
// on every text of it.
var verifyGapChecks = []struct{ what, sql string }{
	{"gap", `SELECT session_id || '/' || n, 'not counted: its question is not set (parley serve sets it)' FROM gaps WHERE norm IS NULL`},
	{"gap", `SELECT session_id || ' ' || norm, count(*) FILTER (WHERE is_first) || ' first texts of the question, first asked at ' || count(DISTINCT first_at) || ' times'
		FROM gaps WHERE norm IS NOT NULL GROUP BY session_id, norm
		HAVING count(*) FILTER (WHERE is_first) <> 1 OR count(DISTINCT first_at) <> 1
			OR min(first_at) <> min(at) FILTER (WHERE is_first)`},
	{"gap counter", `WITH want AS (
	SELECT (at AT TIME ZONE 'UTC')::date AS day, site, bot, norm, count(*) AS texts, count(*) FILTER (WHERE is_first) AS sessions
	FROM gaps WHERE norm IS NOT NULL GROUP BY 1, 2, 3, 4),
have AS (SELECT day, site, bot, norm, sum(texts) AS texts, sum(sessions) AS sessions FROM gap_daily GROUP BY 1, 2, 3, 4)
SELECT day::text || ' ' || site || ' ' || bot || ' ' || norm,
	COALESCE(have.texts, 0) || ' texts, ' || COALESCE(have.sessions, 0) || ' sessions; the texts have ' || COALESCE(want.texts, 0) || ', ' || COALESCE(want.sessions, 0)
FROM want FULL JOIN have USING (day, site, bot, norm)
WHERE COALESCE(want.texts, 0) <> COALESCE(have.texts, 0) OR COALESCE(want.sessions, 0) <> COALESCE(have.sessions, 0)`},
}

// loadGaps queues a loaded session's texts, numbered from 0 (parley
// migrate's load: FinishLoad counts them).
func loadGaps(ctx context.Context, q querier, sess *storage.Session) error {
	if len(sess.Gaps) == 0 {
		return nil
	}
	_, err := q.Exec(ctx, `INSERT INTO gaps (session_id, n, at, text, norm, is_first, first_at, site, bot)
		SELECT $1, u.*, $8, $9 FROM unnest(`+castArrays(2, gapTypes...)+`) AS u`,
		append(append([]any{sess.ID}, newGapColumns(nil, sess.Gaps).args()...), sess.Site, sess.Bot)...)
	return err
}
