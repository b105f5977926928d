package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// AnyGoal as SessionQuery.Goal keeps the sessions that reached any goal.
const AnyGoal = "*"

// SessionQuery selects the sessions dashboard (seed 003): sessions started
// in [From, To), newest first, with every filter that is set.
type SessionQuery struct {
	From, To  time.Time // on the start; zero: open
	Site      string
	Channel   string
	Bot       string
	Version   string
	Responses *bool  // the visitor sent something (true) or nothing (false)
	Goal      string // a goal reached, or AnyGoal
	Block     string // a block reached
	Tag       string
	Forms     bool   // an input was given (seed 003's forms)
	Type      string // the story's declared type (lead, support, ...)
	Lang      string // the visitor's language (Session.Lang)
	// Status keeps active, open, closed or inactive sessions (see
	// StatusActive) at Now, as Live tells.
	Status string
	Live   Liveness
	Now    time.Time
	// Sentiment keeps the sessions of that label (positive, neutral,
	// negative, unknown); Unanswered those with a text only the fallback
	// answered.
	Sentiment  string
	Unanswered bool
	// Q keeps the sessions of the visitors a user search for Q finds.
	Q      string
	Limit  int
	Cursor string
}

// SessionRow is one session of the dashboard with its visitor.
type SessionRow struct {
	Session *Session
	Visitor *Visitor
}

// facets returns the index facets the filters require, the likely
// sparsest first: the join steps through the first list and only seeks in
// the others, so a rare goal or tag leads and a common channel follows.
func (q *SessionQuery) facets() []string {
	var f []string
	switch q.Goal {
	case "":
	case AnyGoal:
		f = append(f, facetAnyGoal)
	default:
		f = append(f, facet("goal", q.Goal))
	}
	if q.Unanswered {
		f = append(f, facetUnanswered)
	}
	if q.Sentiment != "" {
		f = append(f, facet("snt", q.Sentiment))
	}
	for _, p := range []struct{ name, v string }{{"tag", q.Tag}, {"blk", q.Block}, {"lang", q.Lang}, {"type", q.Type}, {"ver", q.Version}, {"bot", q.Bot}, {"ch", q.Channel}, {"site", q.Site}} {
		if p.v != "" {
			f = append(f, facet(p.name, p.v))
		}
	}
	if q.Forms {
		f = append(f, facetForms)
	}
	if q.Responses != nil {
		if *q.Responses {
			f = append(f, facetResponses)
		} else {
			f = append(f, facetSilent)
		}
	}
	if len(f) == 0 {
		f = []string{facetAll}
	}
	return f
}

func (q *SessionQuery) fingerprint() uint64 {
	return fingerprint(append(q.facets(), timeParam(q.From), timeParam(q.To), q.Status, normalizeQuery(q.Q))...)
}

// Sessions returns one page of the dashboard, newest start first. The
// filters are index facets joined on their keys, so a page reads about a
// page of keys per facet; a status filter lists the few active or open
// sessions, or skips them (query_status.go). Bad values return a
// *FieldError.
func (s *Store) Sessions(ctx context.Context, q SessionQuery) (*Page[SessionRow], error) {
	// Fold committed turns first, so the answer is exact (indexer.go).
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	limit, err := q.Check()
	if err != nil {
		return nil, err
	}
	fp := q.fingerprint()
	pos, err := decodeCursor(q.Cursor, cursorSessions, fp)
	if err != nil {
		return nil, err
	}
	page := &Page[SessionRow]{}
	err = s.db.View(func(txn *badger.Txn) error {
		var ids []string
		var next string
		set, err := statusSessions(ctx, txn, q.Status, q.Live, q.Now)
		switch {
		case err != nil:
		case normalizeQuery(q.Q) != "":
			ids, next, err = searchSessions(ctx, txn, &q, set, pos, limit)
		case set != nil && !set.exclude:
			ids, next, err = listSessions(ctx, txn, &q, set, pos, limit)
		default:
			ids, next, err = scanSessions(ctx, txn, &q, set, pos, limit)
		}
		if err != nil {
			return err
		}
		if next != "" {
			page.Next = encodeCursor(cursorSessions, fp, next)
		}
		page.Items, err = sessionRows(txn, ids)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: sessions: %w", err)
	}
	return page, nil
}

// scanSessions joins the facets' lists from the bound down to From. It
// returns the page's session IDs and the position to go on from, if any.
func scanSessions(ctx context.Context, txn *badger.Txn, q *SessionQuery, set *statusSet, pos string, limit int) ([]string, string, error) {
	var prefixes [][]byte
	for _, f := range q.facets() {
		prefixes = append(prefixes, key("is", f, ""))
	}
	bound, incl := upperBound(pos, q.To)
	j := newJoin(txn, prefixes, bound, incl)
	defer j.close()
	var ids []string
	var last string
	for n := 0; ; n++ {
		sfx, ok := j.next()
		if !ok {
			return ids, "", nil
		}
		if !q.From.IsZero() && suffixTime(sfx).Before(q.From) {
			return ids, "", nil
		}
		if n%1024 == 0 && ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		id := suffixID(sfx)
		if !set.keeps(id) {
			continue // one of the few active or open sessions
		}
		if len(ids) == limit {
			// One more exists: the page is full and has a next one.
			return ids, last, nil
		}
		last = string(sfx)
		ids = append(ids, id)
	}
}

// searchSessions serves a query with Q: the sessions of the visitors the
// search finds, filtered on their records.
func searchSessions(ctx context.Context, txn *badger.Txn, q *SessionQuery, set *statusSet, pos string, limit int) ([]string, string, error) {
	vids, err := searchVisitors(txn, q.Q, maxSearchVisitors)
	if err != nil {
		return nil, "", err
	}
	want := q.facets()
	var sfxs []string
	for _, vid := range vids {
		var v Visitor
		if err := getJSON(txn, key("v", vid), &v); err != nil || !v.Matches(q.Q) {
			continue
		}
		sids, err := listKeys(txn, key("vs", vid, ""))
		if err != nil {
			return nil, "", err
		}
		for _, sid := range sids {
			var sess Session
			if err := getJSON(txn, key("s", sid), &sess); err != nil {
				return nil, "", err
			}
			if !inPeriod(sess.StartedAt, q.From, q.To) || !hasAll(sess.facets(), want) || !set.keeps(sid) {
				continue
			}
			sfx := sessionSuffix(sess.StartedAt, sid)
			if pos == "" || sfx < pos {
				sfxs = append(sfxs, sfx)
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
	}
	ids, next := newestPage(sfxs, limit)
	return ids, next, nil
}

// sessionRows reads the sessions and their visitors.
func sessionRows(txn *badger.Txn, ids []string) ([]SessionRow, error) {
	rows := make([]SessionRow, 0, len(ids))
	visitors := map[string]*Visitor{}
	for _, id := range ids {
		var sess Session
		if err := getJSON(txn, key("s", id), &sess); err != nil {
			return nil, fmt.Errorf("session %s: %w", id, err)
		}
		v := visitors[sess.VisitorID]
		if v == nil {
			v = &Visitor{}
			if err := getJSON(txn, key("v", sess.VisitorID), v); err != nil {
				return nil, fmt.Errorf("visitor %s: %w", sess.VisitorID, err)
			}
			visitors[sess.VisitorID] = v
		}
		rows = append(rows, SessionRow{Session: &sess, Visitor: v})
	}
	return rows, nil
}

// VisitorSessionQuery selects one visitor's sessions with the overview's
// filters: last activity in [From, To), every flag in Flags.
type VisitorSessionQuery struct {
	VisitorID string
	From, To  time.Time
	Flags     byte
	Limit     int
	Cursor    string
}

// VisitorSessions returns one page of the visitor's sessions, newest
// activity first. It reads the visitor's own index entries, skipping those
// without the flags. Bad values return a *FieldError.
func (s *Store) VisitorSessions(ctx context.Context, q VisitorSessionQuery) (*Page[*Session], error) {
	// Fold committed turns first, so the answer is exact (indexer.go).
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	limit, err := q.Check()
	if err != nil {
		return nil, err
	}
	fp := q.fingerprint()
	pos, err := decodeCursor(q.Cursor, cursorVisitor, fp)
	if err != nil {
		return nil, err
	}
	page := &Page[*Session]{}
	err = s.db.View(func(txn *badger.Txn) error {
		sc := newRevScan(txn, key("iv", q.VisitorID, ""))
		defer sc.close()
		bound, incl := upperBound(pos, q.To)
		var last string
		for sfx, ok := sc.seek(bound, incl); ok; sfx, ok = sc.next() {
			if !q.From.IsZero() && suffixTime(sfx).Before(q.From) {
				break
			}
			if !hasFlags(sc.it.Item(), q.Flags) {
				continue
			}
			if len(page.Items) == limit {
				page.Next = encodeCursor(cursorVisitor, fp, last)
				break
			}
			last = string(sfx)
			var sess Session
			if err := getJSON(txn, key("s", suffixID(sfx)), &sess); err != nil {
				return err
			}
			page.Items = append(page.Items, &sess)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("storage: visitor sessions: %w", err)
	}
	return page, nil
}

// Transcript returns the session and all its messages, oldest first.
func (s *Store) Transcript(ctx context.Context, id string) (*Session, []Message, error) {
	// Fold committed turns first, so the answer is exact (indexer.go).
	if err := s.settle(ctx); err != nil {
		return nil, nil, err
	}
	sess, err := s.Session(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	msgs, err := s.Messages(ctx, id, 0)
	if err != nil {
		return nil, nil, err
	}
	return sess, msgs, nil
}

func inPeriod(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		if w != facetAll && !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// listKeys returns the last parts of the keys under prefix.
func listKeys(txn *badger.Txn, prefix []byte) ([]string, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	var out []string
	for it.Rewind(); it.Valid(); it.Next() {
		out = append(out, strings.Clone(string(it.Item().Key()[len(prefix):])))
	}
	return out, nil
}
