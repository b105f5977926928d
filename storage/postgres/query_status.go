package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// statusFilter adds the dashboard's status filter (storage.StatusActive,
// …): active and open list the few sessions that are so now, closed and
// inactive are every session but those, so the start index is still read
// a page at a time. Active sessions are the gateway's (q.Live); open ones
// are idle for less than their site's timeout, hence active within the
// longest timeout: a range of sessions_by_activity back from q.Now.
func (s *Store) statusFilter(ctx context.Context, w *where, q *storage.SessionQuery) error {
	if q.Status == "" {
		return nil
	}
	var ids []string
	if q.Status != storage.StatusOpen {
		ids = append(ids, q.Live.ActiveSessions()...)
	}
	if q.Status == storage.StatusOpen || q.Status == storage.StatusClosed {
		open, err := s.openSessions(ctx, q.Live, q.Now)
		if err != nil {
			return err
		}
		ids = append(ids, open...)
	}
	slices.Sort(ids)
	ids = nonNilSlice(slices.Compact(ids)) // NULL would match nothing either way
	switch q.Status {
	case storage.StatusActive, storage.StatusOpen:
		w.add("id = ANY(?)", ids)
	default:
		w.add("NOT (id = ANY(?))", ids)
	}
	return nil
}

// openSessions returns the sessions open at now: not active, not ended
// and idle for less than their site's session timeout
// (storage.SessionStatus decides each).
func (s *Store) openSessions(ctx context.Context, live storage.Liveness, now time.Time) ([]string, error) {
	since := now.Add(-live.MaxSessionTimeout())
	rows, err := s.pool.Query(ctx, `SELECT id, site, last_activity_at, ended FROM sessions
		WHERE last_activity_at > $1 ORDER BY last_activity_at DESC, id DESC`, utc(since))
	if err != nil {
		return nil, err
	}
	var ids []string
	var sess storage.Session
	_, err = pgx.ForEachRow(rows, []any{&sess.ID, &sess.Site, &sess.LastActivityAt, &sess.State.Ended}, func() error {
		if storage.SessionStatus(&sess, live, now) == storage.StatusOpen {
			ids = append(ids, sess.ID)
		}
		return nil
	})
	return ids, err
}
