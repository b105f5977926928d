package postgres

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// searchSessions returns the IDs of the first n sessions, newest start
// first, of the visitors the search q finds, among those the conditions
// of w keep: the sessions dashboard's search. It reads the candidates'
// sessions in the page's order (each candidate's from its index,
// sessions_by_visitor_id: LATERAL … LIMIT keeps it a probe per visitor,
// never a walk of the start order for the few of theirs in it, nor a scan
// of every session), and checks only the visitors of the sessions it
// reads (storage.Visitor.Matches): a page's worth, not every candidate.
// When some fail the check it reads on, twice as many at a time.
func (s *Store) searchSessions(ctx context.Context, q string, w *where, n int) ([]string, error) {
	cands, err := s.searchCandidates(ctx, q) // query_users.go
	if err != nil || len(cands) == 0 {
		return nil, err
	}
	matches := map[string]bool{} // by visitor, once checked
	var out []string
	var at time.Time
	after := ""
	for batch := n; ; batch *= 2 {
		c := &where{conds: slices.Clip(w.conds), args: slices.Clip(w.args)}
		c.before("started_at", "id", at, after)
		vids := c.arg(cands)
		limit := strconv.Itoa(batch)
		rows, err := s.pool.Query(ctx, `SELECT f.id, f.started_at, v.id, v.name, v.email, v.phone, v.platform_id FROM (
			SELECT f.id, f.visitor_id, f.started_at FROM unnest(`+vids+`::text[]) AS c(vid)
			CROSS JOIN LATERAL (SELECT id, visitor_id, started_at FROM sessions WHERE visitor_id = c.vid AND `+c.String()+`
				ORDER BY started_at DESC, id DESC LIMIT `+limit+`) AS f
			ORDER BY f.started_at DESC, f.id DESC LIMIT `+limit+`) AS f
			CROSS JOIN LATERAL (SELECT id, name, email, phone, platform_id FROM visitors WHERE id = f.visitor_id LIMIT 1) AS v
			ORDER BY f.started_at DESC, f.id DESC`, c.args...)
		if err != nil {
			return nil, err
		}
		read := 0
		var sid string
		var v storage.Visitor
		_, err = pgx.ForEachRow(rows, []any{&sid, &at, &v.ID, &v.Name, &v.Email, &v.Phone, &v.PlatformID}, func() error {
			read++
			after = sid
			ok, checked := matches[v.ID]
			if !checked {
				ok = v.Matches(q)
				matches[v.ID] = ok
			}
			if ok && len(out) < n {
				out = append(out, sid)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(out) == n || read < batch {
			return out, nil
		}
	}
}
