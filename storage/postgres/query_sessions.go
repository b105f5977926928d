package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// where builds a query's WHERE clause and its arguments.
type where struct {
	conds []string
	args  []any
}

// add appends a condition; each ? in it is the next argument's $n.
func (w *where) add(cond string, args ...any) {
	for _, a := range args {
		w.args = append(w.args, a)
		cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.args)), 1)
	}
	w.conds = append(w.conds, cond)
}

// String is the clause, "TRUE" for no condition.
func (w *where) String() string {
	if len(w.conds) == 0 {
		return "TRUE"
	}
	return strings.Join(w.conds, " AND ")
}

// period adds from ≤ col < to, each end when set. The ends are rounded
// up to the microseconds a column holds, which keeps both comparisons
// exact for an end between two (truncating would let in a row a
// nanosecond before from).
func (w *where) period(col string, from, to time.Time) {
	if !from.IsZero() {
		w.add(col+" >= ?", ceilMicro(from.UTC()))
	}
	if !to.IsZero() {
		w.add(col+" < ?", ceilMicro(to.UTC()))
	}
}

// before adds the keyset condition of a newest-first list: the rows after
// the previous page's last one, (at, id), in the order (col DESC, id DESC).
func (w *where) before(col, idCol string, at time.Time, id string) {
	if id != "" {
		w.add("("+col+", "+idCol+") < (?, ?)", utc(at), id)
	}
}

// sessionFilters adds the dashboard's filters of q but its period and
// status: the equality filters, the flags and the insight filters, as
// storage's facets mean them (the Badger engine's index.go).
func sessionFilters(w *where, q *storage.SessionQuery) {
	for _, f := range []struct{ col, v string }{{"site", q.Site}, {"channel", q.Channel}, {"bot", q.Bot},
		{"version", q.Version}, {"story_type", q.Type}, {"lang", q.Lang}, {"sentiment", q.Sentiment}} {
		if f.v != "" {
			w.add(f.col+" = ?", f.v)
		}
	}
	switch q.Goal {
	case "":
	case storage.AnyGoal:
		w.add("cardinality(goals) > 0")
	default:
		w.add("? = ANY(goals)", q.Goal)
	}
	if q.Block != "" {
		w.add("? = ANY(reached)", q.Block)
	}
	if q.Tag != "" {
		w.add("? = ANY(tags)", q.Tag)
	}
	if q.Forms {
		w.add("has_inputs")
	}
	if q.Responses != nil {
		w.add("has_responses = ?", *q.Responses)
	}
	if q.Unanswered {
		w.add("unanswered_count > 0")
	}
}

// Sessions returns one page of the sessions dashboard, newest start
// first: the rows before the cursor's on the start index, filtered, one
// page and one row (to know a next page exists) read. A status filter
// lists the few active or open sessions, or leaves them out
// (query_status.go); a search keeps the sessions of the visitors it finds
// (query_users.go). Bad values return a *storage.FieldError.
func (s *Store) Sessions(ctx context.Context, q storage.SessionQuery) (*storage.Page[storage.SessionRow], error) {
	limit, err := q.Check()
	if err != nil {
		return nil, err
	}
	at, id, err := q.After()
	if err != nil {
		return nil, err
	}
	page, err := s.sessions(ctx, &q, limit, at, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: sessions: %w", err)
	}
	return page, nil
}

func (s *Store) sessions(ctx context.Context, q *storage.SessionQuery, limit int, at time.Time, id string) (*storage.Page[storage.SessionRow], error) {
	w := &where{}
	if err := s.statusFilter(ctx, w, q); err != nil {
		return nil, err
	}
	w.period("started_at", q.From, q.To)
	sessionFilters(w, q)
	w.before("started_at", "id", at, id)
	order := ` ORDER BY started_at DESC, id DESC`
	sql := `SELECT ` + pageColumns + ` FROM sessions WHERE ` + w.String() + order + ` LIMIT ` + strconv.Itoa(limit+1)
	if strings.TrimSpace(q.Q) != "" {
		ids, err := s.searchSessions(ctx, q.Q, w, limit+1) // query_search.go
		if err != nil || len(ids) == 0 {
			return &storage.Page[storage.SessionRow]{}, err
		}
		w = &where{}
		sql = `SELECT ` + pageColumns + ` FROM sessions WHERE id = ANY(` + w.arg(ids) + `)` + order
	}
	sessions, err := s.readSessions(ctx, sql, w.args...)
	if err != nil {
		return nil, err
	}
	page := &storage.Page[storage.SessionRow]{}
	if len(sessions) > limit {
		sessions = sessions[:limit]
		last := sessions[limit-1]
		page.Next = q.NextCursor(last.StartedAt, last.ID)
	}
	visitors, err := s.visitorsOf(ctx, sessions)
	if err != nil {
		return nil, err
	}
	page.Items = make([]storage.SessionRow, len(sessions))
	for i, sess := range sessions {
		v := visitors[sess.VisitorID]
		if v == nil {
			return nil, fmt.Errorf("visitor %s of session %s: %w", sess.VisitorID, sess.ID, storage.ErrNotFound)
		}
		page.Items[i] = storage.SessionRow{Session: sess, Visitor: v}
	}
	return page, nil
}

// pageColumns are sessionColumns and, as JSON arrays, the session's
// inputs and gaps: a correlated subquery each, so each is a probe of its
// primary key per session, and a page of sessions is one round trip.
const pageColumns = sessionColumns + `,
	(SELECT COALESCE(json_agg(json_build_object('block', block, 'variable', variable, 'kind', kind, 'value', value, 'at', at) ORDER BY n), '[]')
		FROM inputs WHERE inputs.session_id = sessions.id),
	(SELECT COALESCE(json_agg(json_build_object('at', at, 'text', text) ORDER BY n), '[]')
		FROM gaps WHERE gaps.session_id = sessions.id)`

// pageRow is a row of pageColumns: Scan takes sessionColumns' targets,
// as scanSession passes them, and reads the two arrays itself.
type pageRow struct {
	pgx.Row
	inputs, gaps *[]byte
}

func (r pageRow) Scan(dest ...any) error { return r.Row.Scan(append(dest, r.inputs, r.gaps)...) }

// readSessions runs a query of pageColumns and reads the sessions whole.
func (s *Store) readSessions(ctx context.Context, sql string, args ...any) ([]*storage.Session, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*storage.Session, error) {
		var inputs, gaps []byte
		sess, err := scanSession(pageRow{row, &inputs, &gaps})
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(inputs, &sess.Inputs); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(gaps, &sess.Gaps); err != nil {
			return nil, err
		}
		// As written: UTC, and nil for none.
		for i := range sess.Inputs {
			sess.Inputs[i].At = sess.Inputs[i].At.UTC()
		}
		for i := range sess.Gaps {
			sess.Gaps[i].At = sess.Gaps[i].At.UTC()
		}
		sess.Inputs, sess.Gaps = nilIfEmpty(sess.Inputs), nilIfEmpty(sess.Gaps)
		return sess, nil
	})
}

// visitorsOf reads the visitors of the sessions, by ID.
func (s *Store) visitorsOf(ctx context.Context, sessions []*storage.Session) (map[string]*storage.Visitor, error) {
	ids := make([]string, 0, len(sessions))
	for _, sess := range sessions {
		ids = append(ids, sess.VisitorID)
	}
	return s.visitorsByID(ctx, ids)
}

// visitorsByID reads the visitors with the given IDs; one missing is
// missing from the map.
func (s *Store) visitorsByID(ctx context.Context, ids []string) (map[string]*storage.Visitor, error) {
	out := make(map[string]*storage.Visitor, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+visitorColumns+` FROM visitors WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	visitors, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*storage.Visitor, error) { return scanVisitor(row) })
	if err != nil {
		return nil, err
	}
	for _, v := range visitors {
		out[v.ID] = v
	}
	return out, nil
}

// VisitorSessions returns one page of the visitor's sessions, newest
// activity first, with every flag asked for: a range of the visitor's
// entries in sessions_by_visitor_activity. Bad values return a
// *storage.FieldError.
func (s *Store) VisitorSessions(ctx context.Context, q storage.VisitorSessionQuery) (*storage.Page[*storage.Session], error) {
	limit, err := q.Check()
	if err != nil {
		return nil, err
	}
	at, id, err := q.After()
	if err != nil {
		return nil, err
	}
	w := &where{}
	w.add("visitor_id = ?", q.VisitorID)
	w.period("last_activity_at", q.From, q.To)
	flagFilters(w, "", q.Flags)
	w.before("last_activity_at", "id", at, id)
	sql := `SELECT ` + pageColumns + ` FROM sessions WHERE ` + w.String() +
		` ORDER BY last_activity_at DESC, id DESC LIMIT ` + strconv.Itoa(limit+1)
	sessions, err := s.readSessions(ctx, sql, w.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: visitor sessions: %w", err)
	}
	page := &storage.Page[*storage.Session]{Items: sessions}
	if len(sessions) > limit {
		page.Items = sessions[:limit]
		last := page.Items[limit-1]
		page.Next = q.NextCursor(last.LastActivityAt, last.ID)
	}
	return page, nil
}

// flagFilters adds the overview's flags (storage.FlagEngaged, …), every
// one required.
// The columns are the table's under alias (e.g. "s.", or "").
func flagFilters(w *where, alias string, flags byte) {
	for _, f := range []struct {
		bit byte
		col string
	}{{storage.FlagEngaged, "engaged"}, {storage.FlagFiles, "has_files"}, {storage.FlagInputs, "has_inputs"}} {
		if flags&f.bit != 0 {
			w.add(alias + f.col)
		}
	}
}
