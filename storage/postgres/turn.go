package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// RecordTurn appends a turn to its session: its messages, its ack, its
// inputs and gaps, the session's new row and its visitor's rollups, in a
// group commit with the turns of other sessions (commit.go), committed
// when it returns.
//
// It returns the updated session, the turn's ack (storage.Turn.Messages;
// zero when there is none) and dup=true when the client ID was already
// stored, in which case nothing is written and ack is the original one.
// It returns storage.ErrNotFound for an unknown session,
// storage.ErrErasing for a visitor being erased and storage.ErrTooLarge
// past storage.MaxStateBytes. When the database does not answer it
// returns an error within the statement timeout (Options), with nothing
// of the turn written.
func (s *Store) RecordTurn(ctx context.Context, t *storage.Turn) (sess *storage.Session, ack storage.Ack, dup bool, err error) {
	prev := t.Prev
	if prev == nil {
		// Without an owner, the turns of a session are serialised here and
		// the client ID checked against the acks.
		mu := &s.turns.locks[sessionStripe(t.SessionID)]
		mu.Lock()
		defer mu.Unlock()
		if t.ClientID != "" {
			switch a, err := getAck(ctx, s.pool, t.SessionID, t.ClientID); {
			case err == nil:
				sess, err := getSession(ctx, s.pool, t.SessionID)
				if err != nil {
					return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
				}
				return sess, a, true, nil
			case !errors.Is(err, storage.ErrNotFound):
				return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
			}
		}
		if prev, err = getSession(ctx, s.pool, t.SessionID); err != nil {
			return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
	}
	atPrecision(t)
	next, ack, err := storage.NextSession(t, prev)
	if err != nil {
		return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
	}
	w, err := newTurnWrite(t, prev, next, ack)
	if err != nil {
		return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
	}
	if err := s.enqueueTurn(w, t, next, prev); err != nil { // outbox.go
		return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
	}
	if err := s.turns.commits.write(ctx, w); err != nil {
		if t.ClientID != "" && isUniqueViolation(err) {
			// The client ID is stored already: a resend of a turn whose
			// commit answered an error after all (a connection lost after
			// the commit) gets its first ack, as any resend does.
			if a, aerr := getAck(ctx, s.pool, t.SessionID, t.ClientID); aerr == nil {
				if sess, serr := getSession(ctx, s.pool, t.SessionID); serr == nil {
					return sess, a, true, nil
				}
			}
		}
		return nil, storage.Ack{}, false, fmt.Errorf("postgres: record turn: %w", err)
	}
	return next, ack, false, nil
}

// turnStripes serialise RecordTurn calls without an owner per session.
const turnStripes = 64

func sessionStripe(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % turnStripes)
}

// turnFailed explains a turn that updated no session: the session is
// gone, or its visitor is being erased.
func turnFailed(ctx context.Context, q querier, sid string) error {
	var erasing bool
	err := q.QueryRow(ctx, selectErasing, sid).Scan(&erasing)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return storage.ErrNotFound
	case err != nil:
		return err
	case erasing:
		return storage.ErrErasing
	}
	// Erased and stored again between the two reads: as good as gone.
	return storage.ErrNotFound
}

// LatestSession returns the visitor's most recently started session, or
// storage.ErrNotFound if it has none.
func (s *Store) LatestSession(ctx context.Context, visitorID string) (*storage.Session, error) {
	var id string
	err := s.pool.QueryRow(ctx, selectLatestSession, visitorID).Scan(&id)
	if err != nil {
		return nil, fmt.Errorf("postgres: latest session: %w", notFound(err))
	}
	sess, err := getSession(ctx, s.pool, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: latest session: %w", err)
	}
	return sess, nil
}

// VisitorSessionIDs returns the IDs of the visitor's sessions, oldest
// first.
func (s *Store) VisitorSessionIDs(ctx context.Context, visitorID string) ([]string, error) {
	rows, _ := s.pool.Query(ctx, selectVisitorSessions, visitorID)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: visitor sessions: %w", err)
	}
	return nilIfEmpty(ids), nil
}

// The turn path's reads: a failed turn's session and visitor (primary
// keys), a visitor's sessions in ID order (sessions_by_visitor_id).
const (
	selectErasing         = `SELECT COALESCE(v.erasing, false) FROM sessions s LEFT JOIN visitors v ON v.id = s.visitor_id WHERE s.id = $1`
	selectLatestSession   = `SELECT id FROM sessions WHERE visitor_id = $1 ORDER BY id DESC LIMIT 1`
	selectVisitorSessions = `SELECT id FROM sessions WHERE visitor_id = $1 ORDER BY id`
)

// atPrecision truncates the turn's times that have columns of their own
// to what PostgreSQL keeps (Precision), before the messages get their IDs
// and the session its times from them: the session, messages and ack a
// turn returns then read back equal.
func atPrecision(t *storage.Turn) {
	for i := range t.Messages {
		t.Messages[i].At = utc(t.Messages[i].At)
	}
	for i := range t.Inputs {
		t.Inputs[i].At = utc(t.Inputs[i].At)
	}
	for i := range t.Gaps {
		t.Gaps[i].At = utc(t.Gaps[i].At)
	}
	t.Touch = utc(t.Touch)
}
