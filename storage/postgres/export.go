package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// sqlExportSessions lists a visitor's sessions in ID order (sessions_by_visitor_id).
const sqlExportSessions = `SELECT id FROM sessions WHERE visitor_id = $1 ORDER BY id`

// sqlExportChanges reads a visitor's profile changes, oldest first.
const sqlExportChanges = `SELECT at, changed_by, field, from_value, to_value FROM profile_changes
	WHERE visitor_id = $1 ORDER BY id`

// sqlExportMessages reads a session's messages, oldest first.
const sqlExportMessages = `SELECT ` + messageColumns + ` FROM messages WHERE session_id = $1 ORDER BY id`

// sqlExportNotes reads a session's notes, oldest first.
const sqlExportNotes = `SELECT session_id, id, agent, agent_name, text, at FROM notes WHERE session_id = $1 ORDER BY id`

// sqlExportFiles reads a visitor's files, oldest first (files_by_visitor).
const sqlExportFiles = `SELECT ` + fileColumns + ` FROM files WHERE visitor_id = $1 ORDER BY id`

// WriteExport writes everything recorded of the visitor as one JSON
// document to w, byte for byte as the Badger engine writes it
// (storage.ExportDoc): the format, the time of the export, the visitor
// row, its profile changes, every session with its state, inputs,
// messages, inbox record and notes, and every file's record with its
// download path (download(file), nil for none). It reads one snapshot (a
// read-only repeatable-read transaction), session by session, so its
// memory does not grow with the visitor's history. It returns
// storage.ErrNotFound, having written nothing, for an unknown visitor.
func (s *Store) WriteExport(ctx context.Context, w io.Writer, visitorID string, at time.Time, download func(f *storage.File) string) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	err := pgx.BeginTxFunc(ctx, s.pool, opts, func(tx pgx.Tx) error {
		v, err := getVisitor(ctx, tx, visitorID, false)
		if err != nil {
			return err
		}
		changes, err := exportChanges(ctx, tx, visitorID)
		if err != nil {
			return err
		}
		doc := storage.NewExportDoc(w, at, v, changes)
		sids, err := queryIDs(ctx, tx, sqlExportSessions, visitorID)
		if err != nil {
			return err
		}
		for _, sid := range sids {
			es, err := exportSession(ctx, tx, sid)
			if err != nil {
				return err
			}
			doc.Session(es)
		}
		rows, _ := tx.Query(ctx, sqlExportFiles, visitorID)
		files, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*storage.File, error) { return scanFile(row) })
		if err != nil {
			return err
		}
		return doc.Close(files, download)
	})
	if err != nil {
		return fmt.Errorf("postgres: export visitor %s: %w", visitorID, err)
	}
	return nil
}

// exportChanges reads the visitor's profile changes, oldest first.
func exportChanges(ctx context.Context, q querier, visitorID string) ([]storage.ProfileChange, error) {
	rows, _ := q.Query(ctx, sqlExportChanges, visitorID)
	changes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.ProfileChange, error) {
		var c storage.ProfileChange
		err := row.Scan(&c.At, &c.By, &c.Field, &c.From, &c.To)
		c.At = c.At.UTC()
		return c, err
	})
	if changes == nil {
		changes = []storage.ProfileChange{} // [] as the Badger engine writes it
	}
	return changes, err
}

// exportSession reads one session with its messages, inbox record and
// notes.
func exportSession(ctx context.Context, q querier, sid string) (storage.ExportSession, error) {
	var es storage.ExportSession
	sess, err := getSession(ctx, q, sid)
	if err != nil {
		return es, err
	}
	es.Session = sess
	rows, _ := q.Query(ctx, sqlExportMessages, sid)
	if es.Messages, err = pgx.CollectRows(rows, scanMessage); err != nil {
		return es, err
	}
	if es.Messages == nil {
		es.Messages = []storage.Message{}
	}
	rows, _ = q.Query(ctx, sqlConversation, sid)
	switch c, err := pgx.CollectExactlyOneRow(rows, scanConversation); {
	case err == nil:
		es.Conversation = &c
	case !errors.Is(err, pgx.ErrNoRows):
		return es, err
	}
	rows, _ = q.Query(ctx, sqlExportNotes, sid)
	es.Notes, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Note, error) {
		var n storage.Note
		err := row.Scan(&n.Session, &n.ID, &n.Agent, &n.AgentName, &n.Text, &n.At)
		n.At = n.At.UTC()
		return n, err
	})
	es.Notes = nilIfEmpty(es.Notes)
	return es, err
}
