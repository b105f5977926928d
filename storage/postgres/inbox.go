package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parley-chat/parley/storage"
)

// conversationColumns are the conversations table's columns in
// scanConversation's order.
const conversationColumns = `session_id, status, assignee, read, updated_at`

// The inbox's queries, each served by an index (explain_people_test.go).
const (
	sqlConversation      = `SELECT ` + conversationColumns + ` FROM conversations WHERE session_id = $1`
	sqlOpenConversations = `SELECT ` + conversationColumns + ` FROM conversations
		WHERE status <> 'resolved' ORDER BY updated_at, session_id`
	sqlNotes     = `SELECT session_id, id, agent, agent_name, text, at FROM notes WHERE session_id = $1 ORDER BY id`
	sqlHandovers = `SELECT id, site, visitor_id, handover FROM sessions WHERE handover IS NOT NULL ORDER BY id`
)

// scanConversation reads a row of conversationColumns.
func scanConversation(row pgx.CollectableRow) (storage.Conversation, error) {
	var c storage.Conversation
	var read []byte
	if err := row.Scan(&c.Session, &c.Status, &c.Assignee, &read, &c.UpdatedAt); err != nil {
		return storage.Conversation{}, err
	}
	c.UpdatedAt = c.UpdatedAt.UTC()
	if err := json.Unmarshal(read, &c.Read); err != nil {
		return storage.Conversation{}, err
	}
	if len(c.Read) == 0 {
		c.Read = nil
	}
	return c, nil
}

// Conversation returns the inbox record of the session: a new open one
// when it has none yet.
func (s *Store) Conversation(ctx context.Context, sid string) (*storage.Conversation, error) {
	rows, _ := s.pool.Query(ctx, sqlConversation, sid)
	c, err := pgx.CollectExactlyOneRow(rows, scanConversation)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return &storage.Conversation{Session: sid, Status: storage.ConversationOpen}, nil
	case err != nil:
		return nil, fmt.Errorf("postgres: conversation: %w", err)
	}
	return &c, nil
}

// UpdateConversation changes the session's inbox record with fn in one
// transaction and returns it as stored; storage.ErrNotFound when the
// session does not exist (an erased visitor's conversation cannot come
// back). Two agents changing it at once take turns: the row is locked
// from its read to the commit, so neither change is lost.
func (s *Store) UpdateConversation(ctx context.Context, sid string, now time.Time, fn func(c *storage.Conversation)) (*storage.Conversation, error) {
	var c storage.Conversation
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The row first, so there is one to lock; the foreign key refuses
		// a session that does not exist and holds it until the commit.
		_, err := tx.Exec(ctx, `INSERT INTO conversations (session_id, status, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (session_id) DO NOTHING`, sid, storage.ConversationOpen, utc(now))
		if err != nil {
			return missingSession(err)
		}
		rows, _ := tx.Query(ctx, sqlConversation+` FOR UPDATE`, sid)
		if c, err = pgx.CollectExactlyOneRow(rows, scanConversation); err != nil {
			return notFound(err)
		}
		fn(&c)
		c.Session, c.UpdatedAt = sid, utc(now)
		read, err := json.Marshal(nonNilMap(c.Read))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE conversations SET status = $2, assignee = $3, read = $4, updated_at = $5 WHERE session_id = $1`,
			sid, c.Status, c.Assignee, read, c.UpdatedAt)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: update conversation: %w", err)
	}
	return &c, nil
}

// AddNote stores a private note on the session; storage.ErrNotFound when
// the session does not exist. The note's ID is assigned.
func (s *Store) AddNote(ctx context.Context, n *storage.Note) error {
	n.ID = storage.NewID(n.At)
	_, err := s.pool.Exec(ctx, `INSERT INTO notes (session_id, id, agent, agent_name, text, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		n.Session, n.ID, n.Agent, n.AgentName, n.Text, utc(n.At))
	if err != nil {
		return fmt.Errorf("postgres: add note: %w", missingSession(err))
	}
	return nil
}

// Notes returns the session's notes, oldest first.
func (s *Store) Notes(ctx context.Context, sid string) ([]storage.Note, error) {
	out, err := notesIn(ctx, s.pool, sid)
	if err != nil {
		return nil, fmt.Errorf("postgres: notes: %w", err)
	}
	return out, nil
}

// notesIn reads the session's notes on q, oldest first.
func notesIn(ctx context.Context, q querier, sid string) ([]storage.Note, error) {
	rows, _ := q.Query(ctx, sqlNotes, sid)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Note, error) {
		var n storage.Note
		err := row.Scan(&n.Session, &n.ID, &n.Agent, &n.AgentName, &n.Text, &n.At)
		n.At = n.At.UTC()
		return n, err
	})
	return nilIfEmpty(out), err
}

// inboxIn reads the session's inbox record (nil when it has none) and
// notes on q: what an export of its visitor holds of the inbox.
func inboxIn(ctx context.Context, q querier, sid string) (*storage.Conversation, []storage.Note, error) {
	rows, _ := q.Query(ctx, sqlConversation, sid)
	c, err := pgx.CollectExactlyOneRow(rows, scanConversation)
	var conv *storage.Conversation
	switch {
	case err == nil:
		conv = &c
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, nil, err
	}
	notes, err := notesIn(ctx, q, sid)
	return conv, notes, err
}

// Conversations returns the inbox records of every conversation a person
// took part in that is still open, oldest change first.
func (s *Store) Conversations(ctx context.Context) ([]storage.Conversation, error) {
	rows, _ := s.pool.Query(ctx, sqlOpenConversations)
	out, err := pgx.CollectRows(rows, scanConversation)
	if err != nil {
		return nil, fmt.Errorf("postgres: conversations: %w", err)
	}
	return nilIfEmpty(out), nil
}

// Handovers returns every conversation waiting for a person (oldest
// waiting first) and every one an agent holds, as one list.
func (s *Store) Handovers(ctx context.Context) ([]storage.HandoverEntry, error) {
	rows, _ := s.pool.Query(ctx, sqlHandovers)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.HandoverEntry, error) {
		var e storage.HandoverEntry
		var h []byte
		if err := row.Scan(&e.Session, &e.Site, &e.Visitor, &h); err != nil {
			return e, err
		}
		return e, json.Unmarshal(h, &e.Handover)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: handovers: %w", err)
	}
	out = nilIfEmpty(out)
	storage.SortHandovers(out)
	return out, nil
}

// missingSession translates a foreign key violation (a row for a session
// that does not exist) into storage.ErrNotFound.
func missingSession(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" {
		return storage.ErrNotFound
	}
	return err
}
