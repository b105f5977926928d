package storage

import (
	"context"
	"errors"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Session statuses of the dashboard (seed 003). Active, open and closed
// part every session: active while a socket of it is open; open when it
// is not, but it has not ended and was idle for less than its site's
// session timeout, so a visitor's hello resumes it; closed when the story
// ended it or it idled past the timeout (or its site is gone). Inactive,
// the filter of before, is open or closed.
const (
	StatusActive   = "active"
	StatusOpen     = "open"
	StatusClosed   = "closed"
	StatusInactive = "inactive"
)

// Liveness is what the widget gateway knows of live sessions, which the
// status of a session depends on.
type Liveness interface {
	// Active reports whether a socket is open on the session.
	Active(sessionID string) bool
	// ActiveSessions returns the IDs of the sessions with a socket open.
	ActiveSessions() []string
	// SessionTimeout is how long an idle session of the site stays
	// resumable; 0 for a site that takes no sockets.
	SessionTimeout(site string) time.Duration
	// MaxSessionTimeout is the longest SessionTimeout of any site.
	MaxSessionTimeout() time.Duration
}

// SessionStatus returns the session's status at now: active, open or closed.
func SessionStatus(sess *Session, live Liveness, now time.Time) string {
	switch {
	case live.Active(sess.ID):
		return StatusActive
	case !sess.State.Ended && now.Sub(sess.LastActivityAt) < live.SessionTimeout(sess.Site):
		return StatusOpen
	}
	return StatusClosed
}

func checkStatus(status string) error {
	switch status {
	case "", StatusActive, StatusOpen, StatusClosed, StatusInactive:
		return nil
	}
	return &FieldError{"Status", "must be active, open, closed or inactive"}
}

// statusSet is what a status filter needs to answer exactly without
// examining every session: the few sessions that are active or open now.
// Active and open list those (ids); inactive and closed are every session
// but those (exclude), so the facet join skips them and each page still
// reads about a page of keys.
type statusSet struct {
	ids     map[string]bool
	exclude bool
}

// statusSessions returns the status filter's set (nil for none). Open
// sessions were active within the longest session timeout, so they are a
// range of the ia/0/ index (every session by last activity) back from now.
func statusSessions(ctx context.Context, txn *badger.Txn, status string, live Liveness, now time.Time) (*statusSet, error) {
	if status == "" {
		return nil, nil
	}
	set := &statusSet{ids: map[string]bool{}, exclude: status == StatusInactive || status == StatusClosed}
	if status != StatusOpen {
		for _, id := range live.ActiveSessions() {
			set.ids[id] = true
		}
	}
	if status == StatusOpen || status == StatusClosed {
		open, err := openSessions(ctx, txn, live, now)
		if err != nil {
			return nil, err
		}
		for _, id := range open {
			set.ids[id] = true
		}
	}
	return set, nil
}

// openSessions returns the sessions open at now.
func openSessions(ctx context.Context, txn *badger.Txn, live Liveness, now time.Time) ([]string, error) {
	sc := newRevScan(txn, key("ia", "0", ""))
	defer sc.close()
	since := now.Add(-live.MaxSessionTimeout())
	var ids []string
	for sfx, ok := sc.seek("\xff", true); ok; sfx, ok = sc.next() {
		if !suffixTime(sfx).After(since) {
			break
		}
		var sess Session
		if err := getJSON(txn, key("s", suffixID(sfx)), &sess); err != nil {
			return nil, err
		}
		if SessionStatus(&sess, live, now) == StatusOpen {
			ids = append(ids, sess.ID)
		}
		if len(ids)%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return ids, nil
}

// keeps reports whether the session passes the status filter.
func (st *statusSet) keeps(id string) bool { return st == nil || st.ids[id] != st.exclude }

// listSessions serves an active or open query: the sessions of the set
// with every facet asked for, started in the period, newest first from pos.
func listSessions(ctx context.Context, txn *badger.Txn, q *SessionQuery, set *statusSet, pos string, limit int) ([]string, string, error) {
	want := q.facets()
	var sfxs []string
	for id := range set.ids {
		var sess Session
		switch err := getJSON(txn, key("s", id), &sess); {
		case errors.Is(err, ErrNotFound):
			continue // erased while its socket closes
		case err != nil:
			return nil, "", err
		}
		if !inPeriod(sess.StartedAt, q.From, q.To) || !hasAll(sess.facets(), want) {
			continue
		}
		if sfx := sessionSuffix(sess.StartedAt, id); pos == "" || sfx < pos {
			sfxs = append(sfxs, sfx)
		}
	}
	ids, next := newestPage(sfxs, limit)
	return ids, next, ctx.Err()
}

// newestPage sorts index suffixes newest first and returns the IDs of the
// first limit and the position after them ("" when that is all).
func newestPage(sfxs []string, limit int) (ids []string, next string) {
	slices.Sort(sfxs)
	slices.Reverse(sfxs)
	if len(sfxs) > limit {
		sfxs, next = sfxs[:limit], sfxs[limit-1]
	}
	ids = make([]string, len(sfxs))
	for i, sfx := range sfxs {
		ids[i] = suffixID([]byte(sfx))
	}
	return ids, next
}
