package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// Verify reads the whole store in one snapshot and checks that its rows
// agree: every session has its visitor, its message count and last
// message are its messages', every message, input and gap has its
// session, every ack names a message of its session with its client ID,
// every file has its visitor and all its chunks with its size, no chunk
// is without its file, and the funnel's and the gaps' counters are a
// count of the sessions and texts. It is `parley check` on PostgreSQL: for
// tests, and for a database after a crash, a restore or a migration.
func (s *Store) Verify(ctx context.Context) (*storage.VerifyReport, error) {
	r := &storage.VerifyReport{}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		counts := []struct {
			n   *int
			sql string
		}{
			{&r.Visitors, `SELECT count(*) FROM visitors`},
			{&r.Sessions, `SELECT count(*) FROM sessions`},
			{&r.Messages, `SELECT count(*) FROM messages`},
			{&r.Acks, `SELECT count(*) FROM acks`},
		}
		for _, c := range counts {
			if err := tx.QueryRow(ctx, c.sql).Scan(c.n); err != nil {
				return err
			}
		}
		for _, c := range slices.Concat(verifyChecks, verifyIdentityChecks, verifyCounterChecks, verifyGapChecks) { // identify.go, counters.go, gapcount.go
			rows, err := tx.Query(ctx, c.sql+` LIMIT 1000`)
			if err != nil {
				return fmt.Errorf("%s: %w", c.what, err)
			}
			for rows.Next() {
				var id, detail string
				if err := rows.Scan(&id, &detail); err != nil {
					rows.Close()
					return err
				}
				r.Problemf("%s %s: %s", c.what, id, detail)
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return verifyFiles(ctx, tx, r) // file_verify.go
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: verify: %w", err)
	}
	return r, nil
}

// verifyChecks each select (id, detail) of the rows that disagree.
var verifyChecks = []struct{ what, sql string }{
	{"session", `SELECT s.id, 'visitor ' || s.visitor_id || ' has no record' FROM sessions s
		WHERE NOT EXISTS (SELECT 1 FROM visitors v WHERE v.id = s.visitor_id)`},
	{"session", `SELECT s.id, 'message count ' || s.message_count || ', last message ' || s.last_message_id ||
		'; its messages: ' || count(m.id) || ', last ' || COALESCE(max(m.id), '')
		FROM sessions s LEFT JOIN messages m ON m.session_id = s.id
		GROUP BY s.id, s.message_count, s.last_message_id
		HAVING s.message_count <> count(m.id) OR s.last_message_id <> COALESCE(max(m.id), '')`},
	{"message", `SELECT m.session_id || '/' || m.id, 'no session' FROM messages m
		WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = m.session_id)`},
	{"input", `SELECT i.session_id || '/' || i.n, 'no session' FROM inputs i
		WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = i.session_id)`},
	{"gap", `SELECT g.session_id || '/' || g.n, 'no session' FROM gaps g
		WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = g.session_id)`},
	{"ack", `SELECT a.session_id || '/' || a.client_id, 'names message ' || a.message_id || ', which is not the message with that client ID'
		FROM acks a WHERE NOT EXISTS (SELECT 1 FROM messages m
			WHERE m.session_id = a.session_id AND m.id = a.message_id AND m.client_id = a.client_id)`},
	{"client ID", `SELECT session_id || '/' || client_id, count(*) || ' messages' FROM messages
		WHERE client_id <> '' GROUP BY session_id, client_id HAVING count(*) > 1`},
}
