package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// Sessions that end by timing out. The story's end writes session.ended
// with its turn; a session the visitor leaves idle past its site's session
// timeout ends too (no hello resumes it), but no turn says so. SweepIdle
// finds those by last activity (sessions_by_activity) and writes their
// session.ended, each with its row in sessions_timed_out in the same
// transaction, so the event is written once whatever a restart or crash
// interrupts. sessions_idle_held keeps the sessions a socket kept open
// while the watermark (sweep_marks "idle") passed them.

// idleSweep is SweepIdle's position between calls: a pass over the
// sessions from the watermark to now can take several calls.
type idleSweep struct {
	mu    sync.Mutex
	began time.Time // the now of the pass's first call; zero: no pass begun
	at    time.Time // the last session looked at in the pass: its last activity and ID
	id    string
}

// sqlIdleEntries reads the sessions after a position by last activity,
// up to a time (sessions_by_activity).
const sqlIdleEntries = `SELECT last_activity_at, id FROM sessions
	WHERE (last_activity_at, id) > ($1, $2) AND last_activity_at < $3
	ORDER BY last_activity_at, id LIMIT $4`

// sqlHeld lists the held sessions.
const sqlHeld = `SELECT session_id FROM sessions_idle_held ORDER BY session_id LIMIT $1`

// idleMark names the idle sweep's watermark in sweep_marks.
const idleMark = "idle"

// SweepIdle writes session.ended with reason "timeout" for the sessions
// idle past their site's session timeout at now, at most once each, and
// only for sites whose endpoints want the event. A pass reads the sessions
// by last activity from the watermark to now, at most limit a call
// (storage.DefaultIdleSweepLimit for 0 or less; More says the pass goes on
// at the next call), and passes over the sessions that ended with the
// story, have their event already, belong to a visitor being erased, or
// may still go on. Those not idle long enough yet are read again by the
// next pass, which begins the longest timeout before this one began; one
// with a socket open since before that is kept in sessions_idle_held and
// looked at by each pass until it ends or goes on. Only one SweepIdle of
// a store runs at a time; two nodes sweeping write each event once.
func (s *Store) SweepIdle(ctx context.Context, now time.Time, live storage.Liveness, limit int) (storage.IdleSweep, error) {
	var res storage.IdleSweep
	if limit <= 0 {
		limit = storage.DefaultIdleSweepLimit
	}
	sw := &s.life.idle
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if !s.ob.Routed() {
		// No endpoint: what times out now is never announced, so the
		// first sweep with endpoints does not announce it either.
		sw.began = time.Time{}
		return res, s.setIdleWatermark(ctx, now.Add(-live.MaxSessionTimeout()))
	}
	if sw.began.IsZero() {
		// A new pass: first the sessions held by a socket, then the rest.
		from, err := s.idleWatermark(ctx, now.Add(-live.MaxSessionTimeout()))
		if err != nil {
			return res, err
		}
		sw.at, sw.id, sw.began = from, "", now
		if err := s.sweepHeld(ctx, now, live, limit, &res); err != nil {
			return res, err
		}
	}
	entries, done, err := s.idleEntries(ctx, sw.at, sw.id, now, max(limit-res.Scanned, 1))
	if err != nil {
		return res, err
	}
	mark := sw.began.Add(-live.MaxSessionTimeout())
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		res.Scanned++
		v, err := s.endIfIdle(ctx, e.id, now, live, false)
		if err != nil {
			return res, err
		}
		switch {
		case v == idleEnd:
			res.Ended++
		case v == idleActive && e.at.Before(mark):
			// The next pass begins after it: keep it held.
			if _, err := s.pool.Exec(ctx, `INSERT INTO sessions_idle_held (session_id, held_at) VALUES ($1, $2)
				ON CONFLICT (session_id) DO NOTHING`, e.id, utc(now)); err != nil {
				return res, wrapIdle(e.id, err)
			}
		}
		sw.at, sw.id = e.at, e.id
	}
	if !done {
		res.More = true
		return res, nil
	}
	sw.began = time.Time{}
	return res, s.setIdleWatermark(ctx, mark)
}

// sweepHeld looks at up to limit held sessions again: those that ended or
// went on are let go.
func (s *Store) sweepHeld(ctx context.Context, now time.Time, live storage.Liveness, limit int, res *storage.IdleSweep) error {
	ids, err := s.ids(ctx, sqlHeld, limit)
	if err != nil {
		return fmt.Errorf("postgres: sweep idle sessions: %w", err)
	}
	for _, id := range ids {
		res.Scanned++
		v, err := s.endIfIdle(ctx, id, now, live, true)
		if err != nil {
			return err
		}
		if v == idleEnd {
			res.Ended++
		}
	}
	return nil
}

// setIdleWatermark stores where the next pass begins.
func (s *Store) setIdleWatermark(ctx context.Context, at time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sweep_marks (name, at) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET at = excluded.at`, idleMark, utc(at))
	if err != nil {
		return fmt.Errorf("postgres: sweep idle sessions: %w", err)
	}
	return nil
}

// idleWatermark returns the stored watermark, or first when there is none
// (a store that never swept: what timed out before is not announced now).
func (s *Store) idleWatermark(ctx context.Context, first time.Time) (time.Time, error) {
	var at time.Time
	err := s.pool.QueryRow(ctx, `SELECT at FROM sweep_marks WHERE name = $1`, idleMark).Scan(&at)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return utc(first), nil
	case err != nil:
		return first, fmt.Errorf("postgres: sweep idle sessions: %w", err)
	}
	return at.UTC(), nil
}

// idleEntry is a session as the sweep reads it.
type idleEntry struct {
	at time.Time
	id string
}

// idleEntries returns up to limit sessions after (at, id) in last-activity
// order (from at on when id is "") with a last activity before now, and
// whether that is all of them.
func (s *Store) idleEntries(ctx context.Context, at time.Time, id string, now time.Time, limit int) ([]idleEntry, bool, error) {
	rows, _ := s.pool.Query(ctx, sqlIdleEntries, utc(at), id, utc(now), limit+1)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (idleEntry, error) {
		var e idleEntry
		err := row.Scan(&e.at, &e.id)
		e.at = e.at.UTC()
		return e, err
	})
	if err != nil {
		return nil, false, fmt.Errorf("postgres: sweep idle sessions: %w", err)
	}
	if len(out) > limit {
		return out[:limit], false, nil
	}
	return out, true, nil
}

// idleVerdict is what a sweep does with a session.
type idleVerdict int

const (
	idleSkip   idleVerdict = iota // nothing, now or later
	idleHold                      // nothing yet: idle for less than its timeout
	idleActive                    // nothing yet: a socket is open on it
	idleEnd                       // write its session.ended
)

// endIfIdle writes the session's session.ended (reason timeout) with its
// marker if it is idle past its site's timeout at now and has not ended
// otherwise, and returns what it found. It decides with a plain read first
// (most sessions a pass reads need nothing) and again in the transaction
// that writes, holding the session's and the visitor's rows: a late turn,
// a merge or an erase's fence waits for it or is seen by it, so a visitor
// being erased gets no event after its visitor.erased. held: the session
// is in sessions_idle_held, which it leaves unless a socket is still open.
func (s *Store) endIfIdle(ctx context.Context, id string, now time.Time, live storage.Liveness, held bool) (idleVerdict, error) {
	if live.Active(id) {
		return idleActive, nil
	}
	_, verdict, err := s.judgeIdle(ctx, s.pool, id, now, live, false)
	if err != nil {
		return idleSkip, wrapIdle(id, err)
	}
	if verdict != idleEnd {
		if held {
			_, err = s.pool.Exec(ctx, `DELETE FROM sessions_idle_held WHERE session_id = $1`, id)
		}
		return verdict, wrapIdle(id, err)
	}
	var r *storage.Reservation
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		r.Release()
		r = nil
		ev, v, err := s.judgeIdle(ctx, tx, id, now, live, true)
		if verdict = v; err != nil {
			return err
		}
		b := &pgx.Batch{}
		if held {
			b.Queue(`DELETE FROM sessions_idle_held WHERE session_id = $1`, id)
		}
		if v == idleEnd {
			b.Queue(`INSERT INTO sessions_timed_out (session_id, ended_at) VALUES ($1, $2)`, id, utc(ev.At))
			if r, err = s.enqueue(b, []storage.Event{ev}); err != nil {
				return err
			}
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		r.Release()
		if isUniqueViolation(err) {
			return idleSkip, nil // another node wrote it meanwhile
		}
		return idleSkip, wrapIdle(id, err)
	}
	r.Committed()
	return verdict, nil
}

func wrapIdle(id string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("postgres: end idle session %s: %w", id, err)
}

// judgeIdle decides what the sweep does with the session at now and, for
// idleEnd, returns its event. With lock it holds the session's and the
// visitor's rows until q's transaction ends.
func (s *Store) judgeIdle(ctx context.Context, q querier, id string, now time.Time, live storage.Liveness, lock bool) (storage.Event, idleVerdict, error) {
	sql := `SELECT ` + sessionColumns + ` FROM sessions WHERE id = $1`
	if lock {
		sql += ` FOR SHARE`
	}
	sess, err := scanSession(q.QueryRow(ctx, sql, id))
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Event{}, idleSkip, nil // erased or expired since
	}
	if err != nil {
		return storage.Event{}, idleSkip, err
	}
	if sess.State.Ended || !s.routed(sess.Site, storage.EventSessionEnded) {
		return storage.Event{}, idleSkip, nil
	}
	timeout := live.SessionTimeout(sess.Site)
	if now.Sub(sess.LastActivityAt) < timeout {
		return storage.Event{}, idleHold, nil
	}
	sql = `SELECT v.erasing, EXISTS (SELECT 1 FROM sessions_timed_out WHERE session_id = $2)
		FROM visitors v WHERE v.id = $1`
	if lock {
		sql += ` FOR SHARE OF v`
	}
	var erasing, announced bool
	switch err := q.QueryRow(ctx, sql, sess.VisitorID, id).Scan(&erasing, &announced); {
	case errors.Is(err, pgx.ErrNoRows):
		return storage.Event{}, idleSkip, nil
	case err != nil:
		return storage.Event{}, idleSkip, err
	case erasing || announced:
		return storage.Event{}, idleSkip, nil
	}
	return storage.TimeoutEvent(sess, timeout), idleEnd, nil
}

// routed reports whether an endpoint wants events of type typ on site.
func (s *Store) routed(site, typ string) bool {
	return len(s.ob.Route(site, typ)) > 0
}
