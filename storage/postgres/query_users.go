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

// userHit is a visitor of the overview at its newest matching session.
type userHit struct {
	sessionID, visitorID string
	at                   time.Time
}

// Users returns one page of the users overview, newest activity first:
// each visitor at its newest session with the flags and last activity in
// the period. It walks the activity index (or a flag's partial index)
// from the cursor down and keeps a session when the visitor has no newer
// matching one, which one probe of sessions_by_visitor_activity answers,
// so a page reads about a page of rows. Bad values return a
// *storage.FieldError.
func (s *Store) Users(ctx context.Context, q storage.UserQuery) (*storage.Page[storage.UserRow], error) {
	limit, err := q.Check()
	if err != nil {
		return nil, err
	}
	at, id, err := q.After()
	if err != nil {
		return nil, err
	}
	var hits []userHit
	if strings.TrimSpace(q.Q) != "" {
		hits, err = s.searchUsers(ctx, &q, at, id, limit+1)
	} else {
		hits, err = s.scanUsers(ctx, &q, at, id, limit+1)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: users: %w", err)
	}
	page := &storage.Page[storage.UserRow]{}
	if len(hits) > limit {
		hits = hits[:limit]
		last := hits[limit-1]
		page.Next = q.NextCursor(last.at, last.sessionID)
	}
	if page.Items, err = s.userRows(ctx, hits); err != nil {
		return nil, fmt.Errorf("postgres: users: %w", err)
	}
	return page, nil
}

// scanUsers reads the overview's next n visitors after (at, id).
func (s *Store) scanUsers(ctx context.Context, q *storage.UserQuery, at time.Time, id string, n int) ([]userHit, error) {
	w := &where{}
	w.period("s.last_activity_at", q.From, q.To)
	flagFilters(w, "s.", q.Flags)
	w.before("s.last_activity_at", "s.id", at, id)
	// A newer session of the visitor with the flags, before To, lists the
	// visitor there instead.
	newer := &where{args: w.args}
	newer.add("n.visitor_id = s.visitor_id")
	newer.add("(n.last_activity_at, n.id) > (s.last_activity_at, s.id)")
	flagFilters(newer, "n.", q.Flags)
	if !q.To.IsZero() {
		newer.add("n.last_activity_at < ?", utc(q.To))
	}
	w.add("NOT EXISTS (SELECT 1 FROM sessions n WHERE " + newer.String() + ")")
	w.args = newer.args
	sql := `SELECT s.id, s.visitor_id, s.last_activity_at FROM sessions s WHERE ` + w.String() +
		` ORDER BY s.last_activity_at DESC, s.id DESC LIMIT ` + strconv.Itoa(n)
	return s.userHits(ctx, sql, w.args...)
}

func (s *Store) userHits(ctx context.Context, sql string, args ...any) ([]userHit, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (userHit, error) {
		var h userHit
		err := row.Scan(&h.sessionID, &h.visitorID, &h.at)
		h.at = h.at.UTC()
		return h, err
	})
}

// searchUsers serves a query with Q: the visitors the search finds, each
// at its newest session with the flags before To, newest first, those
// after the cursor and in the period.
func (s *Store) searchUsers(ctx context.Context, q *storage.UserQuery, at time.Time, id string, n int) ([]userHit, error) {
	vids, err := s.searchVisitors(ctx, q.Q)
	if err != nil || len(vids) == 0 {
		return nil, err
	}
	w := &where{}
	w.add("visitor_id = ANY(?)", vids)
	flagFilters(w, "", q.Flags)
	if !q.To.IsZero() {
		w.add("last_activity_at < ?", utc(q.To))
	}
	hits, err := s.userHits(ctx, `SELECT DISTINCT ON (visitor_id) id, visitor_id, last_activity_at FROM sessions
		WHERE `+w.String()+` ORDER BY visitor_id, last_activity_at DESC, id DESC`, w.args...)
	if err != nil {
		return nil, err
	}
	hits = slices.DeleteFunc(hits, func(h userHit) bool {
		return (!q.From.IsZero() && h.at.Before(q.From)) || (id != "" && compareHit(h, userHit{sessionID: id, at: at}) >= 0)
	})
	slices.SortFunc(hits, func(a, b userHit) int { return compareHit(b, a) })
	return hits[:min(n, len(hits))], nil
}

// compareHit orders hits as the overview's index does: by time, then
// session ID.
func compareHit(a, b userHit) int {
	return cmp.Or(a.at.Compare(b.at), strings.Compare(a.sessionID, b.sessionID))
}

// userRows reads the hits' sessions and visitors.
func (s *Store) userRows(ctx context.Context, hits []userHit) ([]storage.UserRow, error) {
	if len(hits) == 0 {
		return nil, nil
	}
	sids, vids := make([]string, len(hits)), make([]string, len(hits))
	for i, h := range hits {
		sids[i], vids[i] = h.sessionID, h.visitorID
	}
	sessions, err := s.readSessions(ctx, `SELECT `+pageColumns+` FROM sessions WHERE id = ANY($1)`, sids)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*storage.Session, len(sessions))
	for _, sess := range sessions {
		byID[sess.ID] = sess
	}
	visitors, err := s.visitorsByID(ctx, vids)
	if err != nil {
		return nil, err
	}
	rows := make([]storage.UserRow, len(hits))
	for i, h := range hits {
		rows[i] = storage.UserRow{Visitor: visitors[h.visitorID], LastActivityAt: h.at, SessionID: h.sessionID, Session: byID[h.sessionID]}
		if rows[i].Visitor == nil || rows[i].Session == nil {
			return nil, fmt.Errorf("session %s of visitor %s: %w", h.sessionID, h.visitorID, storage.ErrNotFound)
		}
	}
	return rows, nil
}

// searchVisitors returns the IDs of the visitors the search q finds (at
// most storage.MaxSearchVisitors candidates are considered: searchCandidates),
// each checked against its current values (storage.Visitor.Matches).
func (s *Store) searchVisitors(ctx context.Context, q string) ([]string, error) {
	cands, err := s.searchCandidates(ctx, q)
	if err != nil || len(cands) == 0 {
		return nil, err
	}
	// Only what Matches reads: a search may check MaxSearchVisitors rows,
	// each one probe of visitors_pkey (LATERAL … LIMIT 1 keeps it so:
	// without, the planner hashes or scans every visitor when the
	// candidates are many).
	rows, err := s.pool.Query(ctx, `SELECT v.id, v.name, v.email, v.phone, v.platform_id FROM unnest($1::text[]) AS c(id)
		CROSS JOIN LATERAL (SELECT id, name, email, phone, platform_id FROM visitors WHERE id = c.id LIMIT 1) AS v`, cands)
	if err != nil {
		return nil, err
	}
	out := cands[:0]
	var v storage.Visitor
	_, err = pgx.ForEachRow(rows, []any{&v.ID, &v.Name, &v.Email, &v.Phone, &v.PlatformID}, func() error {
		if v.Matches(q) {
			out = append(out, v.ID)
		}
		return nil
	})
	return out, err
}

// searchCandidates returns the visitors the search q may find, not
// checked yet, at most storage.MaxSearchVisitors: those whose ID starts
// with q, newest first, then those with a search term starting with q's
// longest word.
func (s *Store) searchCandidates(ctx context.Context, q string) ([]string, error) {
	idPrefix, term := storage.SearchKeys(q)
	var cands []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] && len(cands) < storage.MaxSearchVisitors {
			seen[id] = true
			cands = append(cands, id)
		}
	}
	addIDs := func(rows pgx.Rows) error {
		var id string
		_, err := pgx.ForEachRow(rows, []any{&id}, func() error { add(id); return nil })
		return err
	}
	// A visitor has a row per term starting with the word (a name "anna"
	// and an email "anna.lee@…"): the cap counts visitors, so the rows are
	// read a page at a time, each after the last, until it is reached.
	var rowsRead int
	lastTerm, lastID := prefixEnd(term), ""
	addTerms := func(rows pgx.Rows) error {
		var t, id string
		rowsRead = 0
		_, err := pgx.ForEachRow(rows, []any{&t, &id}, func() error {
			rowsRead++
			lastTerm, lastID = t, id
			add(id)
			return nil
		})
		return err
	}
	max := strconv.Itoa(storage.MaxSearchVisitors)
	termPage := `SELECT term, visitor_id FROM visitor_terms WHERE term >= $1 AND term < $2 AND (term, visitor_id) < ($3, $4)
		ORDER BY term DESC, visitor_id DESC LIMIT ` + max
	b := &pgx.Batch{}
	if idPrefix != "" {
		b.Queue(`SELECT id FROM visitors WHERE id >= $1 AND id < $2 ORDER BY id DESC LIMIT `+max, idPrefix, prefixEnd(idPrefix)).Query(addIDs)
	}
	if term != "" {
		b.Queue(termPage, term, prefixEnd(term), lastTerm, lastID).Query(addTerms)
	}
	if b.Len() == 0 {
		return nil, nil
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	for rowsRead == storage.MaxSearchVisitors && len(cands) < storage.MaxSearchVisitors {
		rows, err := s.pool.Query(ctx, termPage, term, prefixEnd(term), lastTerm, lastID)
		if err != nil {
			return nil, err
		}
		if err := addTerms(rows); err != nil {
			return nil, err
		}
	}
	return cands, nil
}

// prefixEnd is above every string that starts with p, and below every
// other string above p: p followed by the last Unicode code point.
func prefixEnd(p string) string { return p + "\U0010FFFF" }

// insertTerms adds search terms ($1, a text[]) of the visitor $2.
const insertTerms = `INSERT INTO visitor_terms (term, visitor_id) SELECT t, $2 FROM unnest($1::text[]) AS t
	ON CONFLICT DO NOTHING`

// deleteTerms drops the search terms of the visitor $1: erased, or merged
// into another (whose row then has the words).
const deleteTerms = `DELETE FROM visitor_terms WHERE visitor_id = $1`

// queueVisitorTerms queues the statement indexing the visitor's search
// terms, if it has any: for a batch that writes the visitor whole.
func queueVisitorTerms(b *pgx.Batch, v *storage.Visitor) {
	if terms := storage.SearchTerms(v); len(terms) > 0 {
		b.Queue(insertTerms, terms, v.ID)
	}
}

// rollupTerms are the search words of what a turn sets of its visitor
// (name, email, phone), for the turn's statement (turn.go).
func rollupTerms(r storage.VisitorRollup) []string {
	var v storage.Visitor
	for _, f := range []struct {
		from *string
		to   *string
	}{{r.Name, &v.Name}, {r.Email, &v.Email}, {r.Phone, &v.Phone}} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
	return nonNilSlice(storage.SearchTerms(&v))
}

// addVisitorTerms indexes the visitor's search terms (storage.SearchTerms)
// for the search box; terms once added stay (see visitor_terms).
func addVisitorTerms(ctx context.Context, q querier, v *storage.Visitor) error {
	terms := storage.SearchTerms(v)
	if len(terms) == 0 {
		return nil
	}
	_, err := q.Exec(ctx, insertTerms, terms, v.ID)
	return err
}
