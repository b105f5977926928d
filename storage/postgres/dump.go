package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// dumpPage is how many visitors DumpVisitors reads a query at a time.
const dumpPage = 500

// DumpVisitors calls fn with every visitor whose ID sorts after after,
// in ID order, each with its sessions, messages, acks and merges: the
// record stream `parley migrate` copies (storage.Copy). The database must
// not change meanwhile: it is for a stopped Parley's store.
func (s *Store) DumpVisitors(ctx context.Context, after string, fn func(*storage.VisitorDump) error) error {
	files := NewFiles(s)
	for {
		rows, _ := s.pool.Query(ctx, `SELECT `+visitorColumns+` FROM visitors WHERE id > $1 ORDER BY id LIMIT $2`, after, dumpPage)
		page, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*storage.Visitor, error) { return scanVisitor(row) })
		if err != nil {
			return fmt.Errorf("postgres: dump: visitors: %w", err)
		}
		for _, v := range page {
			d, err := s.dumpVisitor(ctx, v, files)
			if err != nil {
				return fmt.Errorf("postgres: dump: visitor %s: %w", v.ID, err)
			}
			if err := fn(d); err != nil {
				return err
			}
			after = v.ID
		}
		if len(page) < dumpPage {
			return nil
		}
	}
}

// dumpVisitor reads what belongs to v, in one snapshot.
func (s *Store) dumpVisitor(ctx context.Context, v *storage.Visitor, files *Files) (*storage.VisitorDump, error) {
	d := &storage.VisitorDump{Visitor: v}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT id FROM sessions WHERE visitor_id = $1 ORDER BY id`, v.ID)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, id := range ids {
			sd, err := dumpSession(ctx, tx, id)
			if err != nil {
				return fmt.Errorf("session %s: %w", id, err)
			}
			d.Sessions = append(d.Sessions, *sd)
		}
		rows, _ = tx.Query(ctx, `SELECT from_id, into_id, merged_at FROM visitor_merges WHERE into_id = $1 ORDER BY from_id`, v.ID)
		d.Merges, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Merge, error) {
			var m storage.Merge
			err := row.Scan(&m.From, &m.Into, &m.At)
			m.At = m.At.UTC()
			return m, err
		})
		if err != nil {
			return err
		}
		d.Merges = nilIfEmpty(d.Merges)
		rows, _ = tx.Query(ctx, selectVisitorFiles, v.ID) // file.go
		fs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*storage.File, error) { return scanFile(row) })
		if err != nil {
			return err
		}
		for _, f := range fs {
			d.Files = append(d.Files, storage.FileDump{File: f, Open: func(ctx context.Context) (io.ReadCloser, error) { return files.Open(ctx, f) }})
		}
		rows, _ = tx.Query(ctx, `SELECT id, at, changed_by, field, from_value, to_value FROM profile_changes
			WHERE visitor_id = $1 ORDER BY id`, v.ID)
		d.Changes, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.ProfileChangeDump, error) {
			var c storage.ProfileChangeDump
			err := row.Scan(&c.ID, &c.At, &c.By, &c.Field, &c.From, &c.To)
			c.At = c.At.UTC()
			return c, err
		})
		d.Changes = nilIfEmpty(d.Changes)
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// dumpSession reads a session with its inputs, gaps, messages and acks.
func dumpSession(ctx context.Context, q querier, id string) (*storage.SessionDump, error) {
	sess, err := getSession(ctx, q, id)
	if err != nil {
		return nil, err
	}
	sd := &storage.SessionDump{Session: sess}
	rows, _ := q.Query(ctx, `SELECT `+messageColumns+` FROM messages WHERE session_id = $1 ORDER BY id`, id)
	if sd.Messages, err = pgx.CollectRows(rows, scanMessage); err != nil { // message.go
		return nil, fmt.Errorf("messages: %w", err)
	}
	sd.Messages = nilIfEmpty(sd.Messages)
	rows, _ = q.Query(ctx, `SELECT client_id, message_id, at, text FROM acks WHERE session_id = $1`, id)
	defer rows.Close()
	for rows.Next() {
		var cid string
		var a storage.Ack
		if err := rows.Scan(&cid, &a.ID, &a.At, &a.Text); err != nil {
			return nil, fmt.Errorf("acks: %w", err)
		}
		a.At = a.At.UTC()
		if sd.Acks == nil {
			sd.Acks = map[string]storage.Ack{}
		}
		sd.Acks[cid] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("acks: %w", err)
	}
	if sd.Conversation, sd.Notes, err = inboxIn(ctx, q, id); err != nil { // inbox.go
		return nil, fmt.Errorf("inbox: %w", err)
	}
	err = q.QueryRow(ctx, `SELECT ended_at FROM sessions_timed_out WHERE session_id = $1`, id).Scan(&sd.TimedOutAt)
	switch {
	case err == nil:
		sd.TimedOut, sd.TimedOutAt = true, sd.TimedOutAt.UTC()
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("idle marker: %w", err)
	}
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sessions_idle_held WHERE session_id = $1)`, id).Scan(&sd.IdleHeld); err != nil {
		return nil, fmt.Errorf("idle marker: %w", err)
	}
	return sd, nil
}

// DumpStore returns the usage and refusal counters.
func (s *Store) DumpStore(ctx context.Context) (*storage.StoreDump, error) {
	d := &storage.StoreDump{}
	rows, _ := s.pool.Query(ctx, `SELECT site, day, bot, version, channel, sessions FROM usage_daily ORDER BY site, day, bot, version, channel`)
	var err error
	d.Usage, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.UsageCount, error) {
		var u storage.UsageCount
		err := row.Scan(&u.Site, &u.Day, &u.Bot, &u.Version, &u.Channel, &u.Sessions)
		u.Day = u.Day.UTC()
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: dump: usage: %w", err)
	}
	rows, _ = s.pool.Query(ctx, `SELECT site, hour, reason, bot, version, channel, starts FROM refused_hourly
		ORDER BY site, hour, reason, bot, version, channel`)
	d.Refused, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.RefusedCount, error) {
		var r storage.RefusedCount
		err := row.Scan(&r.Site, &r.Hour, &r.Reason, &r.Bot, &r.Version, &r.Channel, &r.Starts)
		r.Hour = r.Hour.UTC()
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: dump: refusals: %w", err)
	}
	d.Usage, d.Refused = nilIfEmpty(d.Usage), nilIfEmpty(d.Refused)
	if err := s.dumpWebhooks(ctx, d); err != nil {
		return nil, fmt.Errorf("postgres: dump: %w", err)
	}
	rows, _ = s.pool.Query(ctx, sqlAgents) // agent.go
	if d.Agents, err = pgx.CollectRows(rows, scanAgent); err != nil {
		return nil, fmt.Errorf("postgres: dump: agents: %w", err)
	}
	d.Agents = nilIfEmpty(d.Agents)
	err = s.pool.QueryRow(ctx, `SELECT at FROM sweep_marks WHERE name = $1`, idleMark).Scan(&d.IdleSwept) // idle.go
	switch {
	case err == nil:
		d.IdleSwept = d.IdleSwept.UTC()
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("postgres: dump: idle sweep: %w", err)
	}
	return d, nil
}

// dumpWebhooks reads the outbox, the delivery log and the endpoints'
// states.
func (s *Store) dumpWebhooks(ctx context.Context, d *storage.StoreDump) error {
	rows, _ := s.pool.Query(ctx, `SELECT endpoint, seq, event_id, type, lane, visitor_id, at, attempts, next_at,
		first_failed_at, resent, body FROM webhook_outbox ORDER BY endpoint, seq`)
	var err error
	d.Outbox, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.QueuedEvent, error) {
		var e storage.QueuedEvent
		var seq int64
		err := row.Scan(&e.Endpoint, &seq, &e.ID, &e.Type, &e.Lane, &e.Visitor, &e.At, &e.Attempts, zeroTime{&e.NextAt},
			zeroTime{&e.FirstFailedAt}, &e.Resent, &e.Body)
		e.Seq, e.At = uint64(seq), e.At.UTC()
		return e, err
	})
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	rows, _ = s.pool.Query(ctx, `SELECT endpoint, seq, attempt_id, event_id, type, lane, visitor_id, at, attempt, outcome,
		status, error, took_ms, next_at, resent, body FROM webhook_log ORDER BY endpoint, seq`)
	d.Deliveries, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.LoggedAttempt, error) {
		var a storage.LoggedAttempt
		var seq int64
		err := row.Scan(&a.Endpoint, &seq, &a.ID, &a.EventID, &a.Type, &a.Lane, &a.Visitor, &a.At, &a.Attempt.Attempt, &a.Outcome,
			&a.Status, &a.Error, &a.TookMs, zeroTime{&a.NextAt}, &a.Resent, &a.Body)
		a.Seq, a.At = uint64(seq), a.At.UTC()
		return a, err
	})
	if err != nil {
		return fmt.Errorf("delivery log: %w", err)
	}
	rows, _ = s.pool.Query(ctx, `SELECT endpoint, last_success_at, last_failure_at, failing_since, paused_at FROM webhook_endpoints`)
	defer rows.Close()
	for rows.Next() {
		var ep string
		var st storage.EndpointState
		if err := rows.Scan(&ep, zeroTime{&st.LastSuccessAt}, zeroTime{&st.LastFailureAt}, zeroTime{&st.FailingSince}, zeroTime{&st.PausedAt}); err != nil {
			return fmt.Errorf("endpoints: %w", err)
		}
		if d.Endpoints == nil {
			d.Endpoints = map[string]storage.EndpointState{}
		}
		d.Endpoints[ep] = st
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("endpoints: %w", err)
	}
	d.Outbox, d.Deliveries = nilIfEmpty(d.Outbox), nilIfEmpty(d.Deliveries)
	return nil
}
