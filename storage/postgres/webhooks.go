package postgres

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// The delivery side of the webhook outbox (migrations/0002_webhooks.sql):
// the dispatcher reads an endpoint's waiting events (Outbox), records each
// attempt (OutboxDone: the event leaves or waits again, the attempt is
// logged, the last storage.DeliveryLogKeep kept) and keeps the endpoint's
// state; an admin reads the log and sends an attempt's event again
// (Resend). An entry's Key and an attempt's ID are its seq: the decimal
// number for Key, 16 hex digits for ID, as the Badger engine's IDs.

// entryColumns are webhook_outbox's columns as scanEntry reads them.
const entryColumns = `seq, event_id, type, lane, visitor_id, at, attempts, next_at, first_failed_at, resent, body`

// sqlOutboxPage reads an endpoint's waiting events after a seq, oldest first (the primary key).
const sqlOutboxPage = `SELECT ` + entryColumns + ` FROM webhook_outbox
	WHERE endpoint = $1 AND seq > $2 ORDER BY seq LIMIT $3`

// sqlLogTrim keeps an endpoint's last $2 attempts.
const sqlLogTrim = `DELETE FROM webhook_log WHERE endpoint = $1 AND seq <= (
	SELECT seq FROM webhook_log WHERE endpoint = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1)`

// sqlLogPage reads an endpoint's last attempts, newest first.
const sqlLogPage = `SELECT ` + attemptColumns + ` FROM webhook_log
	WHERE endpoint = $1 ORDER BY seq DESC LIMIT $2`

// sqlBacklog counts the events waiting for an endpoint.
const sqlBacklog = `SELECT count(*) FROM webhook_outbox WHERE endpoint = $1`

// scanEntry reads a row of entryColumns.
func scanEntry(row pgx.Row, endpoint string) (storage.OutboxEntry, error) {
	e := storage.OutboxEntry{Endpoint: endpoint}
	var seq int64
	err := row.Scan(&seq, &e.ID, &e.Type, &e.Lane, &e.Visitor, &e.At, &e.Attempts,
		zeroTime{&e.NextAt}, zeroTime{&e.FirstFailedAt}, &e.Resent, &e.Body)
	e.Key, e.At = strconv.FormatInt(seq, 10), e.At.UTC()
	return e, err
}

// entrySeq is the seq an entry's Key names.
func entrySeq(key string) (int64, error) {
	seq, err := strconv.ParseInt(key, 10, 64)
	if err != nil || seq < 0 {
		return 0, fmt.Errorf("%w: no outbox entry has key %q", storage.ErrNotFound, key)
	}
	return seq, nil
}

// Outbox returns up to limit events waiting for the endpoint, oldest
// first, starting after the entry with key after ("" for the first).
func (s *Store) Outbox(ctx context.Context, endpoint, after string, limit int) ([]storage.OutboxEntry, error) {
	var from int64 = -1
	if after != "" {
		seq, err := entrySeq(after)
		if err != nil {
			return nil, fmt.Errorf("postgres: outbox %s: %w", endpoint, err)
		}
		from = seq
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, _ := s.pool.Query(ctx, sqlOutboxPage, endpoint, from, limit)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.OutboxEntry, error) { return scanEntry(row, endpoint) })
	if err != nil {
		return nil, fmt.Errorf("postgres: outbox %s: %w", endpoint, err)
	}
	return nilIfEmpty(out), nil
}

// OutboxDone records an attempt at the entry e in one transaction: the
// entry leaves the outbox (delivered, gave up) or is stored with its
// updated Attempts, NextAt and FirstFailedAt (failed); the attempt is
// logged, and a.ID set; st, if not nil, becomes the endpoint's state. An
// entry that is gone meanwhile (its visitor was erased) is neither logged
// nor written back.
func (s *Store) OutboxDone(ctx context.Context, e *storage.OutboxEntry, a *storage.Attempt, st *storage.EndpointState) error {
	seq, err := entrySeq(e.Key)
	if err != nil {
		return fmt.Errorf("postgres: outbox done %s: %w", e.Endpoint, err)
	}
	removed := false
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		removed = false
		if st != nil {
			if err := putEndpointState(ctx, tx, e.Endpoint, st); err != nil {
				return err
			}
		}
		var tag interface{ RowsAffected() int64 }
		var err error
		if a.Outcome == storage.OutcomeFailed {
			tag, err = tx.Exec(ctx, `UPDATE webhook_outbox SET attempts = $3, next_at = $4, first_failed_at = $5
					WHERE endpoint = $1 AND seq = $2`, e.Endpoint, seq, e.Attempts, orNull(utc(e.NextAt)), orNull(utc(e.FirstFailedAt)))
		} else {
			tag, err = tx.Exec(ctx, `DELETE FROM webhook_outbox WHERE endpoint = $1 AND seq = $2`, e.Endpoint, seq)
		}
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		removed = a.Outcome != storage.OutcomeFailed
		return logAttempt(ctx, tx, e.Endpoint, a)
	})
	if err != nil {
		return fmt.Errorf("postgres: outbox done %s: %w", e.Endpoint, err)
	}
	if removed {
		s.ob.Left(e.Endpoint, 1)
	}
	return nil
}

// nextSeq takes the next seq of webhook_outbox_seq (enqueue.go): the
// outbox's and the log's, so they only grow, and two nodes never take the
// same.
const nextSeq = `nextval('webhook_outbox_seq')`

// logAttempt appends a to the endpoint's log, sets its ID, and trims the
// log to storage.DeliveryLogKeep.
func logAttempt(ctx context.Context, tx pgx.Tx, endpoint string, a *storage.Attempt) error {
	var seq int64
	err := tx.QueryRow(ctx, `INSERT INTO webhook_log (endpoint, seq, attempt_id, event_id, type, lane, visitor_id, at,
		attempt, outcome, status, error, took_ms, next_at, resent, body)
		VALUES ($1, `+nextSeq+`, '', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		RETURNING seq`,
		endpoint, a.EventID, a.Type, a.Lane, a.Visitor, utc(a.At),
		a.Attempt, a.Outcome, a.Status, a.Error, a.TookMs, orNull(utc(a.NextAt)), a.Resent, nonNilBytes(a.Body)).Scan(&seq)
	if err != nil {
		return err
	}
	a.ID = attemptID(seq)
	b := &pgx.Batch{}
	b.Queue(`UPDATE webhook_log SET attempt_id = $3 WHERE endpoint = $1 AND seq = $2`, endpoint, seq, a.ID)
	b.Queue(sqlLogTrim, endpoint, storage.DeliveryLogKeep)
	return tx.SendBatch(ctx, b).Close()
}

// attemptID is a logged attempt's ID: its seq in 16 hex digits.
func attemptID(seq int64) string {
	return hex.EncodeToString(binary.BigEndian.AppendUint64(nil, uint64(seq)))
}

// nonNilBytes is b, or empty for nil: body is NOT NULL.
func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// attemptColumns are webhook_log's columns as scanAttempt reads them.
const attemptColumns = `attempt_id, event_id, type, lane, visitor_id, at, attempt, outcome, status, error, took_ms, next_at, resent, body`

// scanAttempt reads a row of attemptColumns.
func scanAttempt(row pgx.Row) (storage.Attempt, error) {
	var a storage.Attempt
	err := row.Scan(&a.ID, &a.EventID, &a.Type, &a.Lane, &a.Visitor, &a.At, &a.Attempt, &a.Outcome,
		&a.Status, &a.Error, &a.TookMs, zeroTime{&a.NextAt}, &a.Resent, &a.Body)
	a.At = a.At.UTC()
	return a, notFound(err)
}

// DeliveryLog returns the endpoint's last attempts, newest first, at most
// limit.
func (s *Store) DeliveryLog(ctx context.Context, endpoint string, limit int) ([]storage.Attempt, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, _ := s.pool.Query(ctx, sqlLogPage, endpoint, limit)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Attempt, error) { return scanAttempt(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: delivery log %s: %w", endpoint, err)
	}
	return nilIfEmpty(out), nil
}

// Resend puts the event of the logged attempt id back into the endpoint's
// outbox, behind what waits there, with the same webhook-id and body. It
// returns storage.ErrNotFound for an attempt the log no longer has and
// storage.ErrBacklogFull at the backlog limit.
func (s *Store) Resend(ctx context.Context, endpoint, id string) (*storage.OutboxEntry, error) {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 8 {
		return nil, fmt.Errorf("postgres: resend: %w", storage.ErrNotFound)
	}
	seq := int64(binary.BigEndian.Uint64(raw))
	var e *storage.OutboxEntry
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		a, err := scanAttempt(tx.QueryRow(ctx, `SELECT `+attemptColumns+` FROM webhook_log WHERE endpoint = $1 AND seq = $2`, endpoint, seq))
		if err != nil {
			return err
		}
		var waiting int
		if err := tx.QueryRow(ctx, sqlBacklog, endpoint).Scan(&waiting); err != nil {
			return err
		}
		if waiting >= s.ob.MaxBacklog() {
			return storage.ErrBacklogFull
		}
		site, _, _ := strings.Cut(endpoint, "/")
		e = &storage.OutboxEntry{Endpoint: endpoint, ID: a.EventID, Type: a.Type, Lane: a.Lane, Visitor: a.Visitor, At: a.At, Resent: true, Body: a.Body}
		var next int64
		err = tx.QueryRow(ctx, `INSERT INTO webhook_outbox (endpoint, seq, site, event_id, type, lane, visitor_id, at, resent, body)
				VALUES ($1, `+nextSeq+`, $2, $3, $4, $5, $6, $7, true, $8) RETURNING seq`,
			endpoint, site, e.ID, e.Type, e.Lane, e.Visitor, utc(e.At), nonNilBytes(e.Body)).Scan(&next)
		e.Key = strconv.FormatInt(next, 10)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: resend: %w", err)
	}
	s.ob.Left(endpoint, -1)
	return e, nil
}

// EndpointState returns the endpoint's stored state (zero when it has
// none).
func (s *Store) EndpointState(ctx context.Context, endpoint string) (storage.EndpointState, error) {
	var st storage.EndpointState
	err := s.pool.QueryRow(ctx, `SELECT last_success_at, last_failure_at, failing_since, paused_at
		FROM webhook_endpoints WHERE endpoint = $1`, endpoint).
		Scan(zeroTime{&st.LastSuccessAt}, zeroTime{&st.LastFailureAt}, zeroTime{&st.FailingSince}, zeroTime{&st.PausedAt})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("postgres: endpoint state %s: %w", endpoint, err)
	}
	return st, nil
}

// SetEndpointState stores the endpoint's state.
func (s *Store) SetEndpointState(ctx context.Context, endpoint string, st storage.EndpointState) error {
	if err := putEndpointState(ctx, s.pool, endpoint, &st); err != nil {
		return fmt.Errorf("postgres: set endpoint state %s: %w", endpoint, err)
	}
	return nil
}

// putEndpointState writes the endpoint's state row.
func putEndpointState(ctx context.Context, q querier, endpoint string, st *storage.EndpointState) error {
	_, err := q.Exec(ctx, `INSERT INTO webhook_endpoints (endpoint, last_success_at, last_failure_at, failing_since, paused_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint) DO UPDATE SET
		last_success_at = excluded.last_success_at, last_failure_at = excluded.last_failure_at,
		failing_since = excluded.failing_since, paused_at = excluded.paused_at`,
		endpoint, orNull(utc(st.LastSuccessAt)), orNull(utc(st.LastFailureAt)), orNull(utc(st.FailingSince)), orNull(utc(st.PausedAt)))
	return err
}
