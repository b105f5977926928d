package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parley-chat/parley/storage"
)

// The copy's progress mark (storage.CopyMark) is a row of its own table,
// made by the first write of a copy, not by a migration: a database that
// was never copied into has none.
const createCopyTable = `CREATE TABLE IF NOT EXISTS parley_copy (
	id            INT PRIMARY KEY CHECK (id = 1),  -- one row
	source        TEXT NOT NULL,                   -- the store copied from
	after_visitor TEXT NOT NULL,                   -- the last visitor copied
	visitors      INT NOT NULL,
	started_at    TIMESTAMPTZ NOT NULL,
	done          BOOLEAN NOT NULL                 -- every record copied
)`

const upsertCopyMark = `INSERT INTO parley_copy (id, source, after_visitor, visitors, started_at, done)
	VALUES (1, $1, $2, $3, $4, $5)
	ON CONFLICT (id) DO UPDATE SET source = excluded.source, after_visitor = excluded.after_visitor,
	visitors = excluded.visitors, started_at = excluded.started_at, done = excluded.done`

// ownTables are the tables that hold no record: the schema's version and
// the copy's mark.
var ownTables = map[string]bool{"parley_schema": true, "parley_copy": true}

// CopyMark returns the database's copy progress mark (nil for none) and
// whether it holds no record: every table but the schema's own is empty.
func (s *Store) CopyMark(ctx context.Context) (*storage.CopyMark, bool, error) {
	rows, _ := s.pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, false, fmt.Errorf("postgres: copy mark: %w", err)
	}
	var mark *storage.CopyMark
	empty := true
	for _, t := range tables {
		if t == "parley_copy" {
			var m storage.CopyMark
			err := s.pool.QueryRow(ctx, `SELECT source, after_visitor, visitors, started_at, done FROM parley_copy WHERE id = 1`).
				Scan(&m.Source, &m.After, &m.Visitors, &m.Started, &m.Done)
			switch {
			case err == nil:
				m.Started = m.Started.UTC()
				mark = &m
			case !errors.Is(err, pgx.ErrNoRows):
				return nil, false, fmt.Errorf("postgres: copy mark: %w", err)
			}
		}
		if ownTables[t] || !empty {
			continue
		}
		var any bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{t}.Sanitize()+`)`).Scan(&any); err != nil {
			return nil, false, fmt.Errorf("postgres: copy mark: %s: %w", t, err)
		}
		empty = !any
	}
	return mark, empty, nil
}

// LoadVisitors writes visitors of the record stream with their
// sessions, inputs, gaps, messages, acks and merges, and mark, in one
// transaction sent as one batch. A session's rows are replaced, not added
// to, so loading a visitor again is harmless. Visitors with files take
// three steps: the rows, then the files (Files.Put, streamed; one the
// destination has already is passed over), then mark.
func (s *Store) LoadVisitors(ctx context.Context, ds []*storage.VisitorDump, mark *storage.CopyMark) error {
	b := &batchWriter{}
	files := false
	for _, d := range ds {
		if err := queueVisitor(ctx, b, d); err != nil {
			return fmt.Errorf("postgres: load visitor %s: %w", d.Visitor.ID, err)
		}
		files = files || len(d.Files) > 0
	}
	if !files {
		if err := s.sendWithMark(ctx, b, mark); err != nil {
			return fmt.Errorf("postgres: load visitors: %w", err)
		}
		return nil
	}
	if err := s.sendWithMark(ctx, b, nil); err != nil {
		return fmt.Errorf("postgres: load visitors: %w", err)
	}
	fs := NewFiles(s)
	for _, d := range ds {
		for _, fd := range d.Files {
			if err := loadFile(ctx, fs, d.Visitor, fd); err != nil {
				return fmt.Errorf("postgres: load visitor %s: file %s: %w", d.Visitor.ID, fd.File.ID, err)
			}
		}
	}
	if err := s.sendWithMark(ctx, &batchWriter{}, mark); err != nil {
		return fmt.Errorf("postgres: load visitors: %w", err)
	}
	return nil
}

// loadFile stores a file of v, read from its source as Put goes, and
// checks it arrived whole; a file stored already (by a run that stopped
// before its mark) is checked, not stored again.
func loadFile(ctx context.Context, fs *Files, v *storage.Visitor, fd storage.FileDump) error {
	if fd.File.VisitorID != v.ID {
		return fmt.Errorf("it is visitor %s's", fd.File.VisitorID)
	}
	f := *fd.File
	switch have, err := fs.File(ctx, f.ID); {
	case err == nil:
		f = *have
	case !errors.Is(err, storage.ErrNotFound):
		return err
	default:
		r, err := fd.Open(ctx)
		if err != nil {
			return err
		}
		err = fs.Put(ctx, &f, r, storage.Quota{}) // no quota: these were uploaded already
		r.Close()
		if err != nil {
			return err
		}
	}
	if f.Size != fd.File.Size || f.SHA256 != fd.File.SHA256 {
		return fmt.Errorf("%d bytes with SHA-256 %s arrived, the source has %d with %s", f.Size, f.SHA256, fd.File.Size, fd.File.SHA256)
	}
	return nil
}

// queueVisitor queues a visitor's rows.
func queueVisitor(ctx context.Context, b *batchWriter, d *storage.VisitorDump) error {
	if err := d.Visitor.Validate(); err != nil {
		return err
	}
	if err := putVisitor(ctx, b, d.Visitor); err != nil {
		return err
	}
	if err := addVisitorTerms(ctx, b, d.Visitor); err != nil { // query_users.go: the search box's words
		return err
	}
	for _, c := range d.Changes {
		b.Exec(ctx, `INSERT INTO profile_changes (visitor_id, id, at, changed_by, field, from_value, to_value)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (visitor_id, id) DO UPDATE SET at = excluded.at,
			changed_by = excluded.changed_by, field = excluded.field, from_value = excluded.from_value, to_value = excluded.to_value`,
			d.Visitor.ID, c.ID, utc(c.At), c.By, c.Field, c.From, c.To)
	}
	for _, m := range d.Merges {
		b.Exec(ctx, `INSERT INTO visitor_merges (from_id, into_id, merged_at) VALUES ($1, $2, $3)
			ON CONFLICT (from_id) DO UPDATE SET into_id = excluded.into_id, merged_at = excluded.merged_at`,
			m.From, d.Visitor.ID, utc(mergedAt(m, d.Visitor)))
	}
	for i := range d.Sessions {
		if err := loadSession(ctx, b, d.Visitor, &d.Sessions[i]); err != nil {
			return err
		}
	}
	return nil
}

// mergedAt is when m happened, or, where the source did not keep it, the
// merged-into visitor's creation: a time no later than the merge.
func mergedAt(m storage.Merge, into *storage.Visitor) time.Time {
	if m.At.IsZero() {
		return into.CreatedAt
	}
	return m.At
}

// loadSession queues a session's rows, replacing any it had.
func loadSession(ctx context.Context, b *batchWriter, v *storage.Visitor, sd *storage.SessionDump) error {
	sess := sd.Session
	if err := sess.Validate(); err != nil {
		return err
	}
	if sess.VisitorID != v.ID {
		return fmt.Errorf("session %s is visitor %s's", sess.ID, sess.VisitorID)
	}
	if err := putSession(ctx, b, sess, sess.RecordBytes()); err != nil {
		return err
	}
	for _, t := range []string{"inputs", "gaps", "messages", "acks"} {
		b.Exec(ctx, `DELETE FROM `+t+` WHERE session_id = $1`, sess.ID)
	}
	if err := appendInputs(ctx, b, sess.ID, 0, sess.Inputs); err != nil {
		return err
	}
	if err := loadGaps(ctx, b, sess); err != nil { // gapcount.go
		return err
	}
	var msgs messageRows // message.go
	for i := range sd.Messages {
		m := &sd.Messages[i]
		if m.SessionID != sess.ID {
			return fmt.Errorf("message %s is session %s's, not %s's", m.ID, m.SessionID, sess.ID)
		}
		if err := msgs.add(m); err != nil {
			return err
		}
	}
	if len(sd.Messages) > 0 {
		b.Exec(ctx, insertMessages, append([]any{sess.ID}, msgs.args()...)...)
	}
	for cid, a := range sd.Acks {
		b.Exec(ctx, `INSERT INTO acks (session_id, client_id, message_id, at, text) VALUES ($1, $2, $3, $4, $5)`,
			sess.ID, cid, a.ID, utc(a.At), a.Text)
	}
	return queueSessionMarks(ctx, b, sd)
}

// queueSessionMarks queues the session's inbox records and idle markers,
// replacing any it had. A marker whose time the source did not keep (the
// Badger engine keeps none) takes the session's last activity.
func queueSessionMarks(ctx context.Context, b *batchWriter, sd *storage.SessionDump) error {
	sid := sd.Session.ID
	for _, t := range []string{"conversations", "notes", "sessions_timed_out", "sessions_idle_held"} {
		b.Exec(ctx, `DELETE FROM `+t+` WHERE session_id = $1`, sid)
	}
	if c := sd.Conversation; c != nil {
		read, err := json.Marshal(nonNilMap(c.Read))
		if err != nil {
			return err
		}
		b.Exec(ctx, `INSERT INTO conversations (`+conversationColumns+`) VALUES ($1, $2, $3, $4, $5)`,
			sid, c.Status, c.Assignee, read, utc(c.UpdatedAt))
	}
	for _, n := range sd.Notes {
		b.Exec(ctx, `INSERT INTO notes (session_id, id, agent, agent_name, text, at) VALUES ($1, $2, $3, $4, $5, $6)`,
			sid, n.ID, n.Agent, n.AgentName, n.Text, utc(n.At))
	}
	if sd.TimedOut {
		at := sd.TimedOutAt
		if at.IsZero() {
			at = sd.Session.LastActivityAt
		}
		b.Exec(ctx, `INSERT INTO sessions_timed_out (session_id, ended_at) VALUES ($1, $2)`, sid, utc(at))
	}
	if sd.IdleHeld {
		b.Exec(ctx, `INSERT INTO sessions_idle_held (session_id, held_at) VALUES ($1, $2)`, sid, utc(sd.Session.LastActivityAt))
	}
	return nil
}

// LoadStore sets the usage and refusal counters to the stream's values,
// writes the webhooks' outbox, delivery log and endpoint states, the
// agents and the idle sweep's watermark, and mark.
func (s *Store) LoadStore(ctx context.Context, d *storage.StoreDump, mark *storage.CopyMark) error {
	b := &batchWriter{}
	for _, u := range d.Usage {
		b.Exec(ctx, `INSERT INTO usage_daily (site, day, bot, version, channel, sessions) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (site, day, bot, version, channel) DO UPDATE SET sessions = excluded.sessions`,
			u.Site, u.Day.UTC().Format("2006-01-02"), u.Bot, u.Version, u.Channel, u.Sessions)
	}
	for _, r := range d.Refused {
		b.Exec(ctx, `INSERT INTO refused_hourly (site, hour, reason, bot, version, channel, starts) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (site, hour, reason, bot, version, channel) DO UPDATE SET starts = excluded.starts`,
			r.Site, utc(r.Hour), r.Reason, r.Bot, r.Version, r.Channel, r.Starts)
	}
	loadWebhooks(ctx, b, d)
	for _, a := range d.Agents {
		b.Exec(ctx, `INSERT INTO agents (`+agentColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name, secret_hash = excluded.secret_hash,
			created_at = excluded.created_at, email = excluded.email, sites = excluded.sites`,
			a.Name, a.DisplayName, a.SecretHash, utc(a.CreatedAt), a.Email, nonNilSlice(a.Sites))
	}
	if !d.IdleSwept.IsZero() {
		b.Exec(ctx, `INSERT INTO sweep_marks (name, at) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET at = excluded.at`,
			idleMark, utc(d.IdleSwept))
	}
	if err := s.sendWithMark(ctx, b, mark); err != nil {
		return fmt.Errorf("postgres: load counters: %w", err)
	}
	return nil
}

// loadWebhooks queues the outbox entries, logged attempts and endpoint
// states, each replacing the row of its key.
func loadWebhooks(ctx context.Context, b *batchWriter, d *storage.StoreDump) {
	for i := range d.Outbox {
		e := &d.Outbox[i]
		site, _, _ := strings.Cut(e.Endpoint, "/")
		b.Exec(ctx, `INSERT INTO webhook_outbox (endpoint, seq, site, event_id, type, lane, visitor_id, at, attempts, next_at,
			first_failed_at, resent, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (endpoint, seq) DO UPDATE SET site = excluded.site, event_id = excluded.event_id, type = excluded.type,
			lane = excluded.lane, visitor_id = excluded.visitor_id, at = excluded.at, attempts = excluded.attempts,
			next_at = excluded.next_at, first_failed_at = excluded.first_failed_at, resent = excluded.resent, body = excluded.body`,
			e.Endpoint, int64(e.Seq), site, e.ID, e.Type, e.Lane, e.Visitor, utc(e.At), e.Attempts, orNull(utc(e.NextAt)),
			orNull(utc(e.FirstFailedAt)), e.Resent, nonNilSlice(e.Body))
	}
	for i := range d.Deliveries {
		a := &d.Deliveries[i]
		b.Exec(ctx, `INSERT INTO webhook_log (endpoint, seq, attempt_id, event_id, type, lane, visitor_id, at, attempt, outcome,
			status, error, took_ms, next_at, resent, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
			ON CONFLICT (endpoint, seq) DO UPDATE SET attempt_id = excluded.attempt_id, event_id = excluded.event_id,
			type = excluded.type, lane = excluded.lane, visitor_id = excluded.visitor_id, at = excluded.at,
			attempt = excluded.attempt, outcome = excluded.outcome, status = excluded.status, error = excluded.error,
			took_ms = excluded.took_ms, next_at = excluded.next_at, resent = excluded.resent, body = excluded.body`,
			a.Endpoint, int64(a.Seq), a.ID, a.EventID, a.Type, a.Lane, a.Visitor, utc(a.At), a.Attempt.Attempt, a.Outcome,
			a.Status, a.Error, a.TookMs, orNull(utc(a.NextAt)), a.Resent, nonNilSlice(a.Body))
	}
	for ep, st := range d.Endpoints {
		b.Exec(ctx, `INSERT INTO webhook_endpoints (endpoint, last_success_at, last_failure_at, failing_since, paused_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint) DO UPDATE SET last_success_at = excluded.last_success_at,
			last_failure_at = excluded.last_failure_at, failing_since = excluded.failing_since, paused_at = excluded.paused_at`,
			ep, orNull(utc(st.LastSuccessAt)), orNull(utc(st.LastFailureAt)), orNull(utc(st.FailingSince)), orNull(utc(st.PausedAt)))
	}
}

// FinishLoad counts the funnel's and the gaps' counters afresh from the
// sessions and texts loaded (counters.go) and writes mark: the indexes are the tables' own, kept by
// every insert.
func (s *Store) FinishLoad(ctx context.Context, mark *storage.CopyMark) error {
	b := &batchWriter{}
	if err := recountCounters(ctx, b); err != nil {
		return fmt.Errorf("postgres: finish load: %w", err)
	}
	if err := s.sendWithMark(ctx, b, mark); err != nil {
		return fmt.Errorf("postgres: finish load: %w", err)
	}
	return nil
}

// sendWithMark sends b's statements and mark (nil for none) in one
// transaction, the mark's table made first if it is missing (the copy's
// first write).
func (s *Store) sendWithMark(ctx context.Context, b *batchWriter, mark *storage.CopyMark) error {
	if mark != nil {
		b.Exec(ctx, upsertCopyMark, mark.Source, mark.After, mark.Visitors, utc(mark.Started), mark.Done)
	}
	send := func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b.batch()).Close() })
	}
	err := send()
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" && strings.Contains(pe.Message, "parley_copy") { // undefined_table
		if _, err := s.pool.Exec(ctx, createCopyTable); err != nil {
			return err
		}
		err = send()
	}
	return err
}

// batchWriter is a querier that queues its statements into a batch, so
// the engine's row writers (putVisitor, putSession, appendInputs, …)
// fill a batch sent in one round trip. It only writes: a query through it
// fails.
type batchWriter struct{ stmts []batchStmt }

type batchStmt struct {
	sql  string
	args []any
}

// Exec queues sql.
func (b *batchWriter) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	b.stmts = append(b.stmts, batchStmt{sql, args})
	return pgconn.CommandTag{}, nil
}

// batch is the statements as a batch to send (one per try: pgx keeps
// what it learnt of a sent batch in it).
func (b *batchWriter) batch() *pgx.Batch {
	batch := &pgx.Batch{}
	for _, st := range b.stmts {
		batch.Queue(st.sql, st.args...)
	}
	return batch
}

var errWriteOnly = errors.New("postgres: a batch writer does not read")

// Query fails: a batch's answers come after it is sent.
func (b *batchWriter) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errWriteOnly
}

// QueryRow fails, as Query.
func (b *batchWriter) QueryRow(context.Context, string, ...any) pgx.Row { return errRow{} }

type errRow struct{}

func (errRow) Scan(...any) error { return errWriteOnly }
