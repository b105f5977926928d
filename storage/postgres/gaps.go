package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// Gaps returns the Knowledge gaps report: the period's unanswered texts,
// grouped by storage.NormalizeGap, the most asked first. It reads the
// period's rows of gaps newest first (gaps_by_at), each with its
// session's site and bot, at most the query's scan limit, and leaves the
// report to storage.GapTally. Bad values return a *storage.FieldError.
func (s *Store) Gaps(ctx context.Context, q storage.GapQuery) (*storage.GapReport, error) {
	tally, err := storage.NewGapTally(q)
	if err != nil {
		return nil, err
	}
	w := &where{}
	w.period("g.at", q.From, q.To)
	// One row past the scan limit tells the tally the report is
	// truncated; a negative limit reads the whole period.
	limit := ""
	if n := q.ScanLimit(); n >= 0 {
		limit = " LIMIT " + strconv.Itoa(n+1)
	}
	// A site or bot asked for needs each text's session: one probe of its
	// primary key (LATERAL … LIMIT 1 keeps it so), never all sessions.
	from := `gaps g CROSS JOIN LATERAL (SELECT '' AS site, '' AS bot) AS s`
	if q.Site != "" || q.Bot != "" {
		from = `gaps g CROSS JOIN LATERAL (SELECT site, bot FROM sessions WHERE id = g.session_id LIMIT 1) AS s`
	}
	rows, err := s.pool.Query(ctx, `SELECT g.at, g.session_id, s.site, s.bot, g.text FROM `+from+`
		WHERE `+w.String()+` ORDER BY g.at DESC, g.session_id DESC, g.n DESC`+limit, w.args...)
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
