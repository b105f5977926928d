package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// The webhook outbox's write side: the events a start or a turn derives
// (storage.SessionEvents, storage.TurnEvents) go into webhook_outbox, one
// row per endpoint that wants each, in the same transaction as the
// change they report. seq comes from one sequence (webhook_outbox_seq),
// so it only grows and two nodes never take the same.

// outbox is the store's side of the webhook outbox: the routing and the
// backlog counts MaxBacklog is checked against (storage.Backlog). Its
// counts are the events waiting per endpoint as last counted in the
// table (every countEvery) plus those this node added since: other nodes
// deliver and add too, so a backlog is exact to within that.
type outbox struct {
	storage.Backlog

	mu       sync.Mutex // started
	started  bool
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// countEvery is how often the backlog counts are read from the table.
const countEvery = 2 * time.Second

// SetOutbox routes the events written from now on to the endpoints
// c.Route names. Before it is called no event is written. It can be
// called again (a config reload).
func (s *Store) SetOutbox(c storage.OutboxConfig) {
	s.ob.mu.Lock()
	if s.ob.started {
		s.ob.mu.Unlock()
		s.ob.SetConfig(c)
		return
	}
	s.ob.started = true
	s.ob.stop, s.ob.done = make(chan struct{}), make(chan struct{})
	s.ob.mu.Unlock()
	// The backlogs as they are before the first event is routed.
	err := s.countOutbox(context.Background())
	s.ob.SetConfig(c)
	if err != nil {
		s.log.Warn("postgres: count the webhook outbox", "err", err)
	}
	go s.countOutboxLoop()
}

// countOutboxLoop counts the backlogs again every countEvery until the
// store closes.
func (s *Store) countOutboxLoop() {
	defer close(s.ob.done)
	tick := time.NewTicker(countEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.ob.stop:
			return
		case <-tick.C:
			if err := s.countOutbox(context.Background()); err != nil {
				s.log.Warn("postgres: count the webhook outbox", "err", err)
			}
		}
	}
}

// countOutbox reads the events waiting per endpoint.
func (s *Store) countOutbox(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rows, _ := s.pool.Query(ctx, selectBacklogs)
	counts := map[string]int{}
	var ep string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&ep, &n}, func() error { counts[ep] = n; return nil }); err != nil {
		return err
	}
	s.ob.Recount(counts)
	return nil
}

// closeOutbox stops the counting (Close).
func (s *Store) closeOutbox() {
	s.ob.mu.Lock()
	started := s.ob.started
	s.ob.mu.Unlock()
	if started {
		s.ob.stopOnce.Do(func() { close(s.ob.stop) })
		<-s.ob.done
	}
}

// OutboxStats returns the endpoint's backlog: the events waiting, as the
// table holds them now (the count this node last read if the database
// does not answer), and those this node dropped past MaxBacklog.
func (s *Store) OutboxStats(endpoint string) storage.OutboxStats {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int
	err := s.pool.QueryRow(ctx, selectBacklog, endpoint).Scan(&n)
	st := s.ob.Stats(endpoint)
	if err == nil {
		st.Waiting = n
	}
	return st
}

// outboxColumns are webhook_outbox's columns an insert sets, seq aside.
const outboxColumns = `endpoint, site, event_id, type, lane, visitor_id, at, body`

// outboxInsert inserts the rows of outboxRows's arrays, the parameters p
// names (0 to 7), each with the next seq.
func outboxInsert(p func(int) string) string {
	return `INSERT INTO webhook_outbox (seq, ` + outboxColumns + `)
	SELECT nextval('webhook_outbox_seq'), u.* FROM unnest(` + arrays(p, 0, "text", "text", "text", "text", "text", "text", "timestamptz", "bytea") + `) AS u`
}

// outboxRows routes evs and returns their rows as arrays (outboxInsert's
// parameters) and the backlog they took, nil when nothing is routed. Past
// an endpoint's MaxBacklog an event is dropped for it and counted.
func (s *Store) outboxRows(evs []storage.Event) (*storage.Reservation, []any, error) {
	c := s.ob.Config()
	if c == nil || c.Route == nil || len(evs) == 0 {
		return nil, nil, nil
	}
	r := s.ob.Reserve()
	var eps, sites, ids, types, lanes, visitors []string
	var ats []any
	var bodies [][]byte
	for i := range evs {
		e := &evs[i]
		to := c.Route(e.Site, e.Type)
		if len(to) == 0 {
			continue
		}
		entry, err := e.Entry()
		if err != nil {
			r.Release()
			return nil, nil, err
		}
		for _, ep := range to {
			if !r.Take(ep, c.MaxBacklog, true) {
				continue
			}
			eps, sites, ids, types = append(eps, ep), append(sites, e.Site), append(ids, entry.ID), append(types, entry.Type)
			lanes, visitors = append(lanes, entry.Lane), append(visitors, entry.Visitor)
			ats, bodies = append(ats, utc(entry.At)), append(bodies, entry.Body)
		}
	}
	if len(eps) == 0 {
		return r, nil, nil
	}
	return r, []any{eps, sites, ids, types, lanes, visitors, ats, bodies}, nil
}

// enqueue queues the insert of evs into b, a transaction's batch.
func (s *Store) enqueue(b *pgx.Batch, evs []storage.Event) (*storage.Reservation, error) {
	r, rows, err := s.outboxRows(evs)
	if err != nil || rows == nil {
		return r, err
	}
	b.Queue(outboxInsert(func(i int) string { return fmt.Sprintf("$%d", i+1) }), rows...)
	return r, nil
}

// enqueueTurn puts the turn's events into its write.
func (s *Store) enqueueTurn(w *turnWrite, t *storage.Turn, next, prev *storage.Session) error {
	if !s.ob.Routed() {
		return nil
	}
	r, rows, err := s.outboxRows(storage.TurnEvents(t, next, prev))
	if err != nil {
		return err
	}
	w.res, w.events = r, rows
	return nil
}

// The backlogs: of every endpoint (the whole outbox, which MaxBacklog
// keeps small, in primary key order), of one (its primary key range).
const (
	selectBacklogs = `SELECT endpoint, count(*) FROM webhook_outbox GROUP BY endpoint`
	selectBacklog  = `SELECT count(*) FROM webhook_outbox WHERE endpoint = $1`
)
