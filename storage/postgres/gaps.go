package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// Gaps returns the Knowledge gaps report: the period's unanswered texts,
// grouped by storage.NormalizeGap, the most asked first. Bad values
// return a *storage.FieldError.
//
// The questions and how often each was asked come from the days'
// counters (gap_daily, gapcount.go) for the whole UTC days of the period
// and from the texts themselves for the days it cuts; then, for the rows
// shown only (and the questions asked as often as the last of them), the
// texts of each question (gaps_by_norm): the last and first asked, the
// sessions it links to, and the sessions that asked it before the period
// and again in it (gaps_by_norm_first, gaps_long_by_norm). Its cost is
// the period's days and questions, not its texts. A period with more
// texts than the query's scan limit is read text by text, newest first,
// as far as the limit (gapsScan), as the Badger engine does.
func (s *Store) Gaps(ctx context.Context, q storage.GapQuery) (*storage.GapReport, error) {
	if _, err := storage.NewGapTally(q); err != nil {
		return nil, err
	}
	rep, err := s.gapsCounted(ctx, q)
	if err == nil && rep == nil {
		return s.gapsScan(ctx, q)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: gaps: %w", unavailable(err))
	}
	return rep, nil
}

// gapGroup is a question of the period as the counters and the cut days'
// texts count it.
type gapGroup struct {
	norm          string
	texts, firsts int64
	// The row's texts, read only for the rows shown (and those tied
	// with the last of them).
	row storage.GapRow
}

// gapsCounted makes the report from the counters, or returns nil when
// the period holds more texts than the scan limit.
func (s *Store) gapsCounted(ctx context.Context, q storage.GapQuery) (*storage.GapReport, error) {
	limit := cmp.Or(q.Limit, storage.DefaultLimit)
	groups, total, err := s.gapQuestions(ctx, q)
	if err != nil {
		return nil, err
	}
	if n := q.ScanLimit(); n >= 0 && total > int64(n) {
		return nil, nil // truncated: the scan's business
	}
	rep := emptyGapReport()
	rep.Groups = len(groups)
	for _, g := range groups {
		rep.Texts += int(g.texts)
	}
	// The rows shown: the most asked, and those asked as often as the
	// last of them (the last asked of those wins: their texts tell).
	slices.SortFunc(groups, func(a, b *gapGroup) int { return cmp.Compare(b.texts, a.texts) })
	if len(groups) > limit {
		last := groups[limit-1].texts
		n := limit
		for n < len(groups) && groups[n].texts == last {
			n++
		}
		groups = groups[:n]
	}
	if err := s.gapRows(ctx, q, groups); err != nil {
		return nil, err
	}
	for _, g := range groups {
		rep.Items = append(rep.Items, g.row)
	}
	storage.SortGapRows(rep.Items)
	rep.Items = rep.Items[:min(limit, len(rep.Items))]
	return rep, nil
}

// gapQuestions counts the questions of the query's site and bot asked in
// its period (those asked at all), and the period's texts of any site
// and bot (total: the scan limit counts them all). Whole days are read
// from the counters, the days the period cuts from their texts.
func (s *Store) gapQuestions(ctx context.Context, q storage.GapQuery) (groups []*gapGroup, total int64, err error) {
	p := splitGapPeriod(q.From, q.To)
	w := &where{}
	var match []string
	if q.Site != "" {
		match = append(match, "site = "+w.arg(q.Site))
	}
	if q.Bot != "" {
		match = append(match, "bot = "+w.arg(q.Bot))
	}
	matches := "TRUE"
	if len(match) > 0 {
		matches = strings.Join(match, " AND ")
	}
	var parts []string
	if p.days {
		var days []string
		if !p.d0.IsZero() {
			days = append(days, "day >= "+w.arg(p.d0.Format(time.DateOnly))+"::date")
		}
		if !p.d1.IsZero() {
			days = append(days, "day < "+w.arg(p.d1.Format(time.DateOnly))+"::date")
		}
		parts = append(parts, `SELECT norm, site, bot, texts, sessions AS firsts FROM gap_daily`+whereAll(days))
	}
	for _, c := range p.cut {
		parts = append(parts, `SELECT norm, site, bot, 1 AS texts, is_first::int AS firsts FROM gaps
			WHERE at >= `+w.arg(c[0])+` AND at < `+w.arg(c[1])+` AND norm IS NOT NULL`)
	}
	if len(parts) == 0 {
		return nil, 0, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT norm, COALESCE(sum(texts) FILTER (WHERE `+matches+`), 0)::bigint,
		COALESCE(sum(firsts) FILTER (WHERE `+matches+`), 0)::bigint, sum(texts)::bigint
		FROM (`+strings.Join(parts, "\nUNION ALL ")+`) AS c GROUP BY norm`, w.args...)
	if err != nil {
		return nil, 0, err
	}
	var g gapGroup
	var all int64
	_, err = pgx.ForEachRow(rows, []any{&g.norm, &g.texts, &g.firsts, &all}, func() error {
		total += all
		if g.texts > 0 {
			groups = append(groups, &gapGroup{norm: g.norm, texts: g.texts, firsts: g.firsts})
		}
		return nil
	})
	return groups, total, err
}

// emptyGapReport is a report with no row.
func emptyGapReport() *storage.GapReport { return &storage.GapReport{Items: []storage.GapRow{}} }

// whereAll is " WHERE" and the conditions, or nothing for none.
func whereAll(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// gapIDs is how many of a question's newest texts one read takes for the
// sessions a row links to.
const gapIDs = 64

// gapRows reads the texts of each group's question in the period for its
// row: the last and first asked, the sessions it links to, and its
// sessions (those that first asked it in the period, counted, and those
// that asked it before and again in it).
func (s *Store) gapRows(ctx context.Context, q storage.GapQuery, groups []*gapGroup) error {
	if len(groups) == 0 {
		return nil
	}
	norms := make([]string, len(groups))
	for i, g := range groups {
		norms[i] = g.norm
	}
	w := &where{}
	k := w.arg(norms)
	period := gapConds(w, q, q.From, q.To)
	straddle := "0"
	if !q.From.IsZero() {
		// Sessions that first asked before from and again in the period:
		// first asked in the hour before from (gaps_by_norm_first), or
		// more than an hour before what they asked in it
		// (gaps_long_by_norm: the few texts so long after their session's
		// first of them).
		from := ceilMicro(q.From.UTC())
		hourBefore := w.arg(from.Add(-time.Hour))
		before := w.arg(from)
		straddle = `(SELECT count(DISTINCT session_id) FROM gaps WHERE norm = k.norm AND first_at >= ` + hourBefore + ` AND first_at < ` + before + ` AND ` + period + `)
			+ (SELECT count(DISTINCT session_id) FROM gaps WHERE norm = k.norm AND at - first_at > interval '1 hour' AND first_at < ` + hourBefore + ` AND ` + period + `)`
	}
	rows, err := s.pool.Query(ctx, `SELECT k.norm, newest.at, newest.text, oldest.at, ids.sids, `+straddle+`
		FROM unnest(`+k+`::text[]) AS k(norm)
		CROSS JOIN LATERAL (SELECT at, text FROM gaps WHERE norm = k.norm AND `+period+` ORDER BY at DESC, session_id DESC, n DESC LIMIT 1) AS newest
		CROSS JOIN LATERAL (SELECT at FROM gaps WHERE norm = k.norm AND `+period+` ORDER BY at, session_id, n LIMIT 1) AS oldest
		CROSS JOIN LATERAL (SELECT array_agg(session_id ORDER BY at DESC, session_id DESC, n DESC) AS sids FROM (
			SELECT at, session_id, n FROM gaps WHERE norm = k.norm AND `+period+` ORDER BY at DESC, session_id DESC, n DESC LIMIT `+strconv.Itoa(gapIDs)+`) AS x) AS ids`,
		w.args...)
	if err != nil {
		return err
	}
	byNorm := map[string]*gapGroup{}
	for _, g := range groups {
		byNorm[g.norm] = g
	}
	var norm, text string
	var last, first time.Time
	var sids []string
	var straddlers int64
	_, err = pgx.ForEachRow(rows, []any{&norm, &last, &text, &first, &sids, &straddlers}, func() error {
		g := byNorm[norm]
		g.row = storage.GapRow{Key: norm, Text: text, Count: int(g.texts), Sessions: int(g.firsts + straddlers),
			FirstAt: first.UTC(), LastAt: last.UTC(), SessionIDs: firstDistinct(sids, storage.MaxGapSessions)}
		if len(g.row.SessionIDs) < storage.MaxGapSessions && len(sids) == gapIDs {
			g.row.SessionIDs = nil // a session repeating it among the newest: read below
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.row.SessionIDs == nil {
			if g.row.SessionIDs, err = s.gapSessions(ctx, q, g.norm); err != nil {
				return err
			}
		}
	}
	return nil
}

// gapSessions lists the sessions that asked a question in the period, in
// the order of their newest text of it (the report's reading order), at
// most storage.MaxGapSessions.
func (s *Store) gapSessions(ctx context.Context, q storage.GapQuery, norm string) ([]string, error) {
	w := &where{}
	k := w.arg(norm)
	rows, _ := s.pool.Query(ctx, `SELECT session_id FROM gaps WHERE norm = `+k+` AND `+gapConds(w, q, q.From, q.To)+`
		GROUP BY session_id ORDER BY max(at) DESC, session_id DESC LIMIT `+strconv.Itoa(storage.MaxGapSessions), w.args...)
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// gapConds are the conditions of a text of the query's site and bot said
// in [from, to), either end open when zero.
func gapConds(w *where, q storage.GapQuery, from, to time.Time) string {
	c := &where{args: w.args}
	c.period("at", from, to)
	if q.Site != "" {
		c.add("site = ?", q.Site)
	}
	if q.Bot != "" {
		c.add("bot = ?", q.Bot)
	}
	w.args = c.args
	return c.String()
}

// firstDistinct is the first n distinct IDs of ids, in order.
func firstDistinct(ids []string, n int) []string {
	var out []string
	for _, id := range ids {
		if len(out) == n {
			break
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// gapPeriod is a report's period as the counters and texts read it:
// whole days [d0, d1) when days (either end open when zero), and the cut
// parts of a day, each [from, to).
type gapPeriod struct {
	days   bool
	d0, d1 time.Time
	cut    [][2]time.Time
}

// splitGapPeriod splits [from, to) (either end open when zero) into whole
// UTC days and the parts of a day at either end.
func splitGapPeriod(from, to time.Time) gapPeriod {
	var p gapPeriod
	const day = 24 * time.Hour
	if !from.IsZero() {
		from = ceilMicro(from.UTC())
		p.d0 = ceilUnit(from, day)
	}
	if !to.IsZero() {
		to = ceilMicro(to.UTC())
		p.d1 = to.Truncate(day)
	}
	if !from.IsZero() && !to.IsZero() && !p.d0.Before(p.d1) {
		if from.Before(to) {
			p.cut = [][2]time.Time{{from, to}}
		}
		return p
	}
	p.days = true
	if !from.IsZero() && from.Before(p.d0) {
		p.cut = append(p.cut, [2]time.Time{from, p.d0})
	}
	if !to.IsZero() && p.d1.Before(to) {
		p.cut = append(p.cut, [2]time.Time{p.d1, to})
	}
	return p
}

// gapsScan reads the period's texts newest first (gaps_by_at), at most
// the query's scan limit, and leaves the report to storage.GapTally: the
// report of a period with more texts than that.
func (s *Store) gapsScan(ctx context.Context, q storage.GapQuery) (*storage.GapReport, error) {
	tally, err := storage.NewGapTally(q)
	if err != nil {
		return nil, err
	}
	w := &where{}
	w.period("at", q.From, q.To)
	// One row past the scan limit tells the tally the report is
	// truncated; a negative limit reads the whole period.
	limit := ""
	if n := q.ScanLimit(); n >= 0 {
		limit = " LIMIT " + strconv.Itoa(n+1)
	}
	rows, err := s.pool.Query(ctx, `SELECT at, session_id, site, bot, text FROM gaps
		WHERE `+w.String()+` ORDER BY at DESC, session_id DESC, n DESC`+limit, w.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: gaps: %w", err)
	}
	var at time.Time
	var sid, site, bot, text string
	_, err = pgx.ForEachRow(rows, []any{&at, &sid, &site, &bot, &text}, func() error {
		tally.Add(at.UTC(), sid, site, bot, text)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: gaps: %w", err)
	}
	return tally.Report(), nil
}
