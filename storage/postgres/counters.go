package postgres

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// The funnel's counters (migration 0009_counters.sql): for every UTC day
// (funnel_daily) and hour (funnel_hourly), site and bot version, how many
// of the sessions started then are stored with each mark: opened (every
// session), converted (a goal reached), each block and each goal reached
// (storage.FunnelMarks). Every writer of sessions adds its change in the
// transaction of the change, so the counters always equal what the rows
// hold (Verify checks it): the start (start.go), the turns' statement
// (turnsql.go), the delete of an erase or the retention sweep (erase.go),
// and parley migrate's load, which counts afresh when it finishes
// (load.go). An identify merge moves sessions to another visitor, never
// to another cell, and changes nothing here.
//
// Counters are rows added to with INSERT … ON CONFLICT DO UPDATE, in key
// order (so two writers never wait for each other's rows in a cycle).
// Each kind of writer has rows of its own (shard): a session's start never
// waits for the turns' commit holding today's counters, nor an erase for
// either. A count is the sum of its shards; an erase's shard is negative.
const (
	shardStart = "s" // StartSession, and the recount of a load or a seed
	shardTurn  = "t" // the turns' group commit
	shardErase = "x" // erase and retention: negative
)

// The kinds of marks, as the tables name them.
const (
	markOpened    = "opened"
	markConverted = "converted"
	markBlock     = "block"
	markGoal      = "goal"
)

// funnelMark is one mark a session is counted under: a kind and, for a
// block or goal, its name.
type funnelMark struct{ kind, name string }

// funnelMarks lists the marks of a session, in key order (kind, then
// name).
func funnelMarks(s *storage.Session) []funnelMark {
	converted, blocks, goals := storage.FunnelMarks(s)
	out := make([]funnelMark, 0, 2+len(blocks)+len(goals))
	for _, b := range blocks {
		out = append(out, funnelMark{markBlock, b})
	}
	if converted {
		out = append(out, funnelMark{markConverted, ""})
	}
	for _, g := range goals {
		out = append(out, funnelMark{markGoal, g})
	}
	return append(out, funnelMark{markOpened, ""})
}

// markDeltas are changes of a session's marks, as arrays (kind, name, n)
// for a statement's unnest.
type markDeltas struct {
	kinds, names []string
	ns           []int32
}

// move notes the marks next has and prev has not (+1), and those prev
// has and next has not (-1). A turn never moves a session's start, site,
// bot or version, so both are of one cell: the session's.
func (d *markDeltas) move(prev, next *storage.Session) {
	if slices.Equal(prev.State.Reached, next.State.Reached) && slices.Equal(prev.State.Goals, next.State.Goals) {
		return // most turns
	}
	// Both in key order: one merge, however many blocks a session reached.
	old, now := funnelMarks(prev), funnelMarks(next)
	for len(old) > 0 || len(now) > 0 {
		switch c := compareMarks(old, now); {
		case c < 0:
			d.add(old[0], -1)
			old = old[1:]
		case c > 0:
			d.add(now[0], 1)
			now = now[1:]
		default:
			old, now = old[1:], now[1:]
		}
	}
}

// compareMarks compares the heads of two mark lists, an empty list's
// after any mark.
func compareMarks(a, b []funnelMark) int {
	switch {
	case len(a) == 0:
		return 1
	case len(b) == 0:
		return -1
	}
	return cmp.Or(strings.Compare(a[0].kind, b[0].kind), strings.Compare(a[0].name, b[0].name))
}

func (d *markDeltas) add(m funnelMark, n int32) {
	d.kinds, d.names, d.ns = append(d.kinds, m.kind), append(d.names, m.name), append(d.ns, n)
}

// sqlMarks is a lateral subquery of the marks of the sessions row alias
// (its goals and reached columns), the rule funnelMarks applies to a
// record: what erase subtracts and a recount counts.
func sqlMarks(alias string) string {
	return `(SELECT '` + markOpened + `' AS kind, '' AS name
		UNION ALL SELECT '` + markConverted + `', '' WHERE cardinality(` + alias + `.goals) > 0
		UNION ALL SELECT DISTINCT '` + markBlock + `', b FROM unnest(` + alias + `.reached) AS b
		UNION ALL SELECT DISTINCT '` + markGoal + `', g FROM unnest(` + alias + `.goals) AS g) AS m`
}

// sqlHour is the UTC hour of a timestamptz, as a timestamp.
func sqlHour(col string) string { return `date_trunc('hour', ` + col + ` AT TIME ZONE 'UTC')` }

// addCounts are the CTEs (fh, fd) that add the rows of the CTE f (hour: a
// UTC hour as a timestamp; site, bot, version, kind, name; n) to the
// hours' and the days' counters of shard, in key order.
func addCounts(shard string) string {
	return `fh AS (INSERT INTO funnel_hourly (hour, site, bot, version, kind, name, shard, sessions)
	SELECT hour AT TIME ZONE 'UTC', site, bot, version, kind, name, '` + shard + `', sum(n) FROM f
	GROUP BY hour, site, bot, version, kind, name ORDER BY hour, site, bot, version, kind, name
	ON CONFLICT (hour, site, bot, version, kind, name, shard) DO UPDATE SET sessions = funnel_hourly.sessions + excluded.sessions),
fd AS (INSERT INTO funnel_daily (day, site, bot, version, kind, name, shard, sessions)
	SELECT hour::date, site, bot, version, kind, name, '` + shard + `', sum(n) FROM f
	GROUP BY hour::date, site, bot, version, kind, name ORDER BY hour::date, site, bot, version, kind, name
	ON CONFLICT (day, site, bot, version, kind, name, shard) DO UPDATE SET sessions = funnel_daily.sessions + excluded.sessions)`
}

// sqlCountStart adds a new session's marks ($5 kinds, $6 names) to the
// counters of its start's hour ($1, a timestamptz), site, bot and
// version ($2-$4).
var sqlCountStart = `WITH f AS (SELECT ` + sqlHour("$1::timestamptz") + ` AS hour, $2::text AS site, $3::text AS bot, $4::text AS version,
	m.kind, m.name, 1 AS n FROM unnest($5::text[], $6::text[]) AS m(kind, name)),
` + addCounts(shardStart) + `
SELECT 1`

// queueCountStart queues the counting of a new session.
func queueCountStart(b *pgx.Batch, sess *storage.Session) {
	var kinds, names []string
	for _, m := range funnelMarks(sess) {
		kinds, names = append(kinds, m.kind), append(names, m.name)
	}
	b.Queue(sqlCountStart, utc(sess.StartedAt), sess.Site, sess.Bot, sess.Version, kinds, names)
}

// sqlDeleteSession deletes the session's row ($1) and takes its marks off
// the counters; it returns a row if it deleted one.
var sqlDeleteSession = `WITH gone AS (DELETE FROM sessions WHERE id = $1 RETURNING started_at, site, bot, version, goals, reached),
f AS (SELECT ` + sqlHour("gone.started_at") + ` AS hour, gone.site, gone.bot, gone.version, m.kind, m.name, -1 AS n
	FROM gone CROSS JOIN LATERAL ` + sqlMarks("gone") + `),
` + addCounts(shardErase) + `
SELECT 1 FROM gone`

// sqlRecountFunnel counts every session's marks into empty counters.
var sqlRecountFunnel = `WITH f AS (SELECT ` + sqlHour("s.started_at") + ` AS hour, s.site, s.bot, s.version, m.kind, m.name, 1 AS n
	FROM sessions s CROSS JOIN LATERAL ` + sqlMarks("s") + `),
` + addCounts(shardStart) + `
SELECT 1`

// recountCounters sets the funnel's and the gaps' counters to a count of
// the sessions and texts stored, in q's transaction: for rows written
// around the writers (a load, a seed). A million sessions take longer
// than a statement may (Options.StatementTimeout): the transaction lifts
// the bound for itself.
func recountCounters(ctx context.Context, q querier) error {
	for _, sql := range []string{sqlNoTimeout, `DELETE FROM funnel_hourly`, `DELETE FROM funnel_daily`, sqlRecountFunnel,
		`DELETE FROM gap_daily`, sqlRecountGaps} {
		if _, err := q.Exec(ctx, sql); err != nil {
			return err
		}
	}
	return nil
}

// sqlNoTimeout lifts the statement timeout for the rest of the
// transaction: counting a whole store afresh.
const sqlNoTimeout = `SET LOCAL statement_timeout = 0`

// verifyCounterChecks compare the counters, shards summed, with a recount
// of the sessions, per hour and per day (Verify).
var verifyCounterChecks = func() []struct{ what, sql string } {
	check := func(table, unit, cell string) struct{ what, sql string } {
		return struct{ what, sql string }{"funnel counter", `WITH want AS (
	SELECT ` + cell + ` AS ` + unit + `, s.site, s.bot, s.version, m.kind, m.name, count(*) AS n
	FROM sessions s CROSS JOIN LATERAL ` + sqlMarks("s") + ` GROUP BY 1, 2, 3, 4, 5, 6),
have AS (SELECT ` + unit + `, site, bot, version, kind, name, sum(sessions) AS n FROM ` + table + ` GROUP BY 1, 2, 3, 4, 5, 6)
SELECT ` + unit + `::text || ' ' || site || ' ' || bot || '/' || version || ' ' || kind || ' ' || name,
	COALESCE(have.n, 0) || ', the sessions have ' || COALESCE(want.n, 0)
FROM want FULL JOIN have USING (` + unit + `, site, bot, version, kind, name)
WHERE COALESCE(want.n, 0) <> COALESCE(have.n, 0)`}
	}
	return []struct{ what, sql string }{
		check("funnel_hourly", "hour", sqlHour("s.started_at")+` AT TIME ZONE 'UTC'`),
		check("funnel_daily", "day", `(s.started_at AT TIME ZONE 'UTC')::date`),
	}
}()
