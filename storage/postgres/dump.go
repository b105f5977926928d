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

// dumpPage is how many visitors DumpVisitors reads at a time, each
// kind of row of them in one query.
const dumpPage = 100

// DumpVisitors calls fn with every visitor whose ID sorts after after,
// in ID order, each with everything that belongs to it: the record
// stream `parley migrate` copies (storage.Copy). It reads a page of
// visitors at a time in one snapshot, a query per table. The database
// must not change meanwhile: it is for a stopped Parley's store.
func (s *Store) DumpVisitors(ctx context.Context, after string, fn func(*storage.VisitorDump) error) error {
	files := NewFiles(s)
	for {
		var page []*storage.VisitorDump
		err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) (err error) {
			page, err = dumpPageAfter(ctx, tx, after, files)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: dump: visitors after %q: %w", after, err)
		}
		for _, d := range page {
			if err := fn(d); err != nil {
				return err
			}
		}
		if len(page) < dumpPage {
			return nil
		}
		after = page[len(page)-1].Visitor.ID
	}
}

// pageDump gathers the rows of a page of visitors by visitor and session.
type pageDump struct {
	visitors   []*storage.VisitorDump
	byVisitor  map[string]*storage.VisitorDump
	bySession  map[string]*storage.SessionDump
	vids, sids []string
}

// dumpPageAfter reads the dumpPage visitors after after with what
// belongs to them.
func dumpPageAfter(ctx context.Context, q querier, after string, files *Files) ([]*storage.VisitorDump, error) {
	rows, _ := q.Query(ctx, `SELECT `+visitorColumns+` FROM visitors WHERE id > $1 ORDER BY id LIMIT $2`, after, dumpPage)
	vs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*storage.Visitor, error) { return scanVisitor(row) })
	if err != nil || len(vs) == 0 {
		return nil, err
	}
	p := &pageDump{byVisitor: map[string]*storage.VisitorDump{}, bySession: map[string]*storage.SessionDump{}}
	for _, v := range vs {
		d := &storage.VisitorDump{Visitor: v}
		p.visitors, p.byVisitor[v.ID], p.vids = append(p.visitors, d), d, append(p.vids, v.ID)
	}
	if err := p.sessions(ctx, q); err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	for _, step := range []struct {
		what string
		read func(context.Context, querier) error
	}{{"inputs and gaps", p.inputsAndGaps}, {"messages", p.messages}, {"acks", p.acks}, {"inbox", p.inbox},
		{"idle markers", p.idleMarks}, {"merges and audit lists", p.visitorRows}} {
		if err := step.read(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", step.what, err)
		}
	}
	if err := p.files(ctx, q, files); err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	return p.visitors, nil
}

// sessions reads the page's sessions, each visitor's in ID order.
func (p *pageDump) sessions(ctx context.Context, q querier) error {
	rows, _ := q.Query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE visitor_id = ANY($1) ORDER BY visitor_id, id`, p.vids)
	ss, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*storage.Session, error) { return scanSession(row) })
	if err != nil {
		return err
	}
	for _, sess := range ss {
		d := p.byVisitor[sess.VisitorID]
		d.Sessions = append(d.Sessions, storage.SessionDump{Session: sess})
		p.sids = append(p.sids, sess.ID)
	}
	// Pointers into the slices only once they stop growing.
	for _, d := range p.visitors {
		for i := range d.Sessions {
			p.bySession[d.Sessions[i].Session.ID] = &d.Sessions[i]
		}
	}
	return nil
}

// inputsAndGaps reads the sessions' inputs and gaps, in their order.
func (p *pageDump) inputsAndGaps(ctx context.Context, q querier) error {
	rows, _ := q.Query(ctx, `SELECT session_id, block, variable, kind, value, at FROM inputs WHERE session_id = ANY($1) ORDER BY session_id, n`, p.sids)
	var sid string
	var in storage.Input
	_, err := pgx.ForEachRow(rows, []any{&sid, &in.Block, &in.Variable, &in.Kind, &in.Value, &in.At}, func() error {
		sess := p.bySession[sid].Session
		in.At = in.At.UTC()
		sess.Inputs = append(sess.Inputs, in)
		return nil
	})
	if err != nil {
		return err
	}
	rows, _ = q.Query(ctx, `SELECT session_id, at, text FROM gaps WHERE session_id = ANY($1) ORDER BY session_id, n`, p.sids)
	var g storage.Gap
	_, err = pgx.ForEachRow(rows, []any{&sid, &g.At, &g.Text}, func() error {
		sess := p.bySession[sid].Session
		g.At = g.At.UTC()
		sess.Gaps = append(sess.Gaps, g)
		return nil
	})
	return err
}

// messages reads the sessions' messages, in their order.
func (p *pageDump) messages(ctx context.Context, q querier) error {
	rows, _ := q.Query(ctx, `SELECT `+messageColumns+` FROM messages WHERE session_id = ANY($1) ORDER BY session_id, id`, p.sids)
	ms, err := pgx.CollectRows(rows, scanMessage) // message.go
	for _, m := range ms {
		sd := p.bySession[m.SessionID]
		sd.Messages = append(sd.Messages, m)
	}
	return err
}

// acks reads the sessions' client-ID ledgers.
func (p *pageDump) acks(ctx context.Context, q querier) error {
	rows, _ := q.Query(ctx, `SELECT session_id, client_id, message_id, at, text FROM acks WHERE session_id = ANY($1)`, p.sids)
	var sid, cid string
	var a storage.Ack
	_, err := pgx.ForEachRow(rows, []any{&sid, &cid, &a.ID, &a.At, &a.Text}, func() error {
		sd := p.bySession[sid]
		if sd.Acks == nil {
			sd.Acks = map[string]storage.Ack{}
		}
		a.At = a.At.UTC()
		sd.Acks[cid] = a
		return nil
	})
	return err
}

// inbox reads the sessions' inbox records and notes.
func (p *pageDump) inbox(ctx context.Context, q querier) error {
	rows, _ := q.Query(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE session_id = ANY($1)`, p.sids)
	cs, err := pgx.CollectRows(rows, scanConversation) // inbox.go
	if err != nil {
		return err
	}
	for _, c := range cs {
		p.bySession[c.Session].Conversation = &c
	}
	rows, _ = q.Query(ctx, `SELECT session_id, id, agent, agent_name, text, at FROM notes WHERE session_id = ANY($1) ORDER BY session_id, id`, p.sids)
	var n storage.Note
	_, err = pgx.ForEachRow(rows, []any{&n.Session, &n.ID, &n.Agent, &n.AgentName, &n.Text, &n.At}, func() error {
		sd := p.bySession[n.Session]
		n.At = n.At.UTC()
		sd.Notes = append(sd.Notes, n)
		return nil
	})
	return err
}

// idleMarks reads which sessions the idle sweep marked.
func (p *pageDump) idleMarks(ctx context.Context, q querier) error {
	rows, _ := q.Query(ctx, `SELECT session_id, ended_at FROM sessions_timed_out WHERE session_id = ANY($1)`, p.sids)
	var sid string
	var at time.Time
	_, err := pgx.ForEachRow(rows, []any{&sid, &at}, func() error {
		sd := p.bySession[sid]
		sd.TimedOut, sd.TimedOutAt = true, at.UTC()
		return nil
	})
	if err != nil {
		return err
	}
	rows, _ = q.Query(ctx, `SELECT session_id FROM sessions_idle_held WHERE session_id = ANY($1)`, p.sids)
	_, err = pgx.ForEachRow(rows, []any{&sid}, func() error {
		p.bySession[sid].IdleHeld = true
		return nil
	})
	return err
}

// visitorRows reads the visitors' merged browsers and audit lists.
func (p *pageDump) visitorRows(ctx context.Context, q querier) error {
	rows, _ := q.Query(ctx, `SELECT from_id, into_id, merged_at FROM visitor_merges WHERE into_id = ANY($1) ORDER BY into_id, from_id`, p.vids)
	var m storage.Merge
	_, err := pgx.ForEachRow(rows, []any{&m.From, &m.Into, &m.At}, func() error {
		d := p.byVisitor[m.Into]
		m.At = m.At.UTC()
		d.Merges = append(d.Merges, m)
		return nil
	})
	if err != nil {
		return err
	}
	rows, _ = q.Query(ctx, `SELECT visitor_id, id, at, changed_by, field, from_value, to_value FROM profile_changes
		WHERE visitor_id = ANY($1) ORDER BY visitor_id, id`, p.vids)
	var vid string
	var c storage.ProfileChangeDump
	_, err = pgx.ForEachRow(rows, []any{&vid, &c.ID, &c.At, &c.By, &c.Field, &c.From, &c.To}, func() error {
		d := p.byVisitor[vid]
		c.At = c.At.UTC()
		d.Changes = append(d.Changes, c)
		return nil
	})
	return err
}

// files reads the visitors' file records; their bytes are read when the
// loader opens them.
func (p *pageDump) files(ctx context.Context, q querier, files *Files) error {
	rows, _ := q.Query(ctx, `SELECT `+fileColumns+` FROM files WHERE visitor_id = ANY($1) ORDER BY visitor_id, id`, p.vids)
	fs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*storage.File, error) { return scanFile(row) }) // file.go
	for _, f := range fs {
		d := p.byVisitor[f.VisitorID]
		d.Files = append(d.Files, storage.FileDump{File: f, Open: func(ctx context.Context) (io.ReadCloser, error) { return files.Open(ctx, f) }})
	}
	return err
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
