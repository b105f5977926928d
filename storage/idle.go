package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Sessions that end by timing out. The story's end writes session.ended
// with its turn (event.go); a session the visitor leaves idle past its
// site's session timeout ends too (it is closed: no hello resumes it),
// but no turn says so. SweepIdle finds those in the ia/0/ index and
// writes their session.ended, each with a marker in the same transaction:
//
//	se/{session}        session.ended was written for the idle session
//	sh/{session}        a session a socket kept open while the watermark
//	                    passed it, looked at by every pass until it ends
//	meta/idle-swept     the last-activity time before which every session
//	                    was looked at (8 bytes, big-endian Unix nanoseconds)
//
// The marker makes the event exactly-once whatever a restart or crash
// interrupts; the watermark bounds what a sweep reads.

// Reasons of a session.ended event.
const (
	EndedByStory   = "story"   // the story reached an end block
	EndedByTimeout = "timeout" // idle past the site's session timeout
)

// DefaultIdleSweepLimit is SweepIdle's default bound on the sessions one
// call looks at.
const DefaultIdleSweepLimit = 1000

// IdleSweep is what one SweepIdle call did.
type IdleSweep struct {
	Scanned int  // index entries looked at
	Ended   int  // session.ended events written
	More    bool // it stopped at its limit: call again soon
}

// idleSweep is SweepIdle's position between calls: a pass over the index
// from the watermark to now can take several calls.
type idleSweep struct {
	mu    sync.Mutex
	pos   []byte    // the last key looked at in the current pass; nil: none begun
	began time.Time // the now of the pass's first call
}

var idleWatermarkKey = []byte("meta/idle-swept")

func idleMarkerKey(sessionID string) []byte { return key("se", sessionID) }

func idleHeldKey(sessionID string) []byte { return key("sh", sessionID) }

// SweepIdle writes session.ended with reason "timeout" for the sessions
// idle past their site's session timeout at now, at most once each, and
// only for sites whose endpoints want the event. A pass reads the ia/0/
// index from the watermark to now, at most limit entries a call
// (DefaultIdleSweepLimit for 0; More says the pass goes on at the next
// call), and passes over the sessions that ended with the story, have
// their event already, belong to a visitor being erased, or may still go
// on. Those not idle long enough yet are read again by the next pass,
// which begins the longest timeout before this one began; one with a
// socket open since before that is kept in sh/ and looked at by each pass
// until it ends or goes on. Only one SweepIdle runs at a time.
func (s *Store) SweepIdle(ctx context.Context, now time.Time, live Liveness, limit int) (IdleSweep, error) {
	var res IdleSweep
	if limit <= 0 {
		limit = DefaultIdleSweepLimit
	}
	sw := &s.idle
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if !s.outboxOn() {
		// No endpoint: what times out now is never announced, so the
		// first sweep with endpoints does not announce it either.
		sw.pos = nil
		return res, s.setIdleWatermark(ctx, now.Add(-live.MaxSessionTimeout()))
	}
	prefix := key("ia", "0", "")
	if sw.pos == nil {
		// A new pass: first the sessions held by a socket, then the index.
		from, err := s.idleWatermark(now.Add(-live.MaxSessionTimeout()))
		if err != nil {
			return res, err
		}
		sw.pos, sw.began = append(bytes.Clone(prefix), timeKey(from)...), now
		if err := s.sweepHeld(ctx, now, live, limit, &res); err != nil {
			return res, err
		}
	}
	entries, done, err := s.idleEntries(prefix, sw.pos, now, max(limit-res.Scanned, 1))
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
			// The next pass begins after it: keep it in sh/.
			if err := s.update(ctx, func(txn *badger.Txn) error { return txn.Set(idleHeldKey(e.id), nil) }); err != nil {
				return res, wrapIdle(e.id, err)
			}
		}
		sw.pos = e.key
	}
	if !done {
		res.More = true
		return res, nil
	}
	sw.pos = nil
	return res, s.setIdleWatermark(ctx, mark)
}

// sweepHeld looks at up to limit sessions in sh/ again: those that ended
// or went on leave it.
func (s *Store) sweepHeld(ctx context.Context, now time.Time, live Liveness, limit int, res *IdleSweep) error {
	var ids []string
	err := s.db.View(func(txn *badger.Txn) error {
		for _, k := range keysIn(txn, key("sh", "")) {
			if len(ids) == limit {
				break
			}
			ids = append(ids, string(k[len("sh/"):]))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: sweep idle sessions: %w", err)
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
	if err := s.update(ctx, func(txn *badger.Txn) error { return txn.Set(idleWatermarkKey, []byte(timeKey(at))) }); err != nil {
		return fmt.Errorf("storage: sweep idle sessions: %w", err)
	}
	return nil
}

// idleWatermark returns the stored watermark, or first when there is none
// (a store that never swept: what timed out before is not announced now).
func (s *Store) idleWatermark(first time.Time) (time.Time, error) {
	at := first
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(idleWatermarkKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			at = suffixTime(v)
			return nil
		})
	})
	if err != nil {
		return at, fmt.Errorf("storage: sweep idle sessions: %w", err)
	}
	return at, nil
}

// idleEntry is one ia/0/ entry.
type idleEntry struct {
	key []byte
	at  time.Time
	id  string
}

// idleEntries returns up to limit ia/0/ entries after start (start itself
// only when it is a bare time bound) with a last activity before now, and
// whether that is all of them.
func (s *Store) idleEntries(prefix, start []byte, now time.Time, limit int) ([]idleEntry, bool, error) {
	var out []idleEntry
	done := true
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(start); it.Valid(); it.Next() {
			k := it.Item().Key()
			if bytes.Equal(k, start) {
				continue
			}
			sfx := k[len(prefix):]
			at := suffixTime(sfx)
			if !at.Before(now) {
				break
			}
			if len(out) == limit {
				done = false
				break
			}
			out = append(out, idleEntry{key: it.Item().KeyCopy(nil), at: at, id: suffixID(sfx)})
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("storage: sweep idle sessions: %w", err)
	}
	return out, done, nil
}

// endIfIdle writes the session's session.ended (reason timeout) with its
// marker if it is idle past its site's timeout at now and has not ended
// otherwise, and returns what it found. It decides in a read-only
// transaction first (most sessions a pass reads need nothing) and again in
// the one that writes: reading the session and the visitor there makes it
// conflict with a fold of a late turn, a merge and an erase's fence, so a
// visitor being erased gets no event after its visitor.erased. held: the
// session is in sh/, which it leaves unless a socket is still open.
func (s *Store) endIfIdle(ctx context.Context, id string, now time.Time, live Liveness, held bool) (idleVerdict, error) {
	if live.Active(id) {
		return idleActive, nil
	}
	if err := s.settleSession(ctx, id); err != nil {
		return idleSkip, err
	}
	var verdict idleVerdict
	err := s.db.View(func(txn *badger.Txn) (err error) {
		_, verdict, err = s.judgeIdle(txn, id, now, live)
		return err
	})
	if err != nil {
		return idleSkip, wrapIdle(id, err)
	}
	if verdict != idleEnd {
		if held {
			err = s.update(ctx, func(txn *badger.Txn) error { return txn.Delete(idleHeldKey(id)) })
		}
		return verdict, wrapIdle(id, err)
	}
	var res *Reservation
	err = s.update(ctx, func(txn *badger.Txn) error {
		res.Release()
		res = nil
		if held {
			if err := txn.Delete(idleHeldKey(id)); err != nil {
				return err
			}
		}
		ev, v, err := s.judgeIdle(txn, id, now, live)
		if verdict = v; err != nil || v != idleEnd {
			return err
		}
		if err := txn.Set(idleMarkerKey(id), []byte(EndedByTimeout)); err != nil {
			return err
		}
		res, err = s.enqueue(txn, []Event{ev})
		return err
	})
	if err != nil {
		res.Release()
		return idleSkip, wrapIdle(id, err)
	}
	res.Committed()
	return verdict, nil
}

func wrapIdle(id string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("storage: end idle session %s: %w", id, err)
}

// idleVerdict is what a sweep does with a session.
type idleVerdict int

const (
	idleSkip   idleVerdict = iota // nothing, now or later
	idleHold                      // nothing yet: idle for less than its timeout
	idleActive                    // nothing yet: a socket is open on it
	idleEnd                       // write its session.ended
)

// judgeIdle decides what the sweep does with the session at now and, for
// idleEnd, returns its event.
func (s *Store) judgeIdle(txn *badger.Txn, id string, now time.Time, live Liveness) (Event, idleVerdict, error) {
	sess, err := getSession(txn, id, nil)
	if errors.Is(err, ErrNotFound) {
		return Event{}, idleSkip, nil // erased or expired since it was indexed
	}
	if err != nil {
		return Event{}, idleSkip, err
	}
	if sess.State.Ended || s.routeOf(sess.Site, EventSessionEnded) == 0 {
		return Event{}, idleSkip, nil
	}
	timeout := live.SessionTimeout(sess.Site)
	if now.Sub(sess.LastActivityAt) < timeout {
		return Event{}, idleHold, nil
	}
	if _, err := txn.Get(idleMarkerKey(id)); err == nil {
		return Event{}, idleSkip, nil // announced already
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return Event{}, idleSkip, err
	}
	var v Visitor
	switch err := getJSON(txn, key("v", sess.VisitorID), &v); {
	case errors.Is(err, ErrNotFound):
		return Event{}, idleSkip, nil
	case err != nil:
		return Event{}, idleSkip, err
	case v.Erasing:
		return Event{}, idleSkip, nil
	}
	return TimeoutEvent(sess, timeout), idleEnd, nil
}

// routeOf counts the endpoints that want events of type typ on site.
func (s *Store) routeOf(site, typ string) int {
	return len(s.ob.Route(site, typ))
}

// TimeoutEvent is the session.ended of a session that timed out: at the
// moment it stopped being resumable.
func TimeoutEvent(sess *Session, timeout time.Duration) Event {
	at := sess.LastActivityAt.Add(timeout)
	return Event{
		Type: EventSessionEnded, Site: sess.Site, Visitor: sess.VisitorID, Session: sess.ID, At: at,
		Data: map[string]any{"ended": endedOf(sess.State, at, EndedByTimeout, sess.LastActivityAt)},
	}
}

// endedOf is what session.ended tells of the end.
func endedOf(st State, at time.Time, reason string, lastActivity time.Time) map[string]any {
	return map[string]any{
		"at": at.UTC(), "reason": reason, "block": st.Current, "goals": st.Goals, "tags": st.Tags,
		"lastActivityAt": lastActivity.UTC(),
	}
}
