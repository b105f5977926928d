package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// lifecycle is the Store's state for erasing visitors and sweeping idle
// sessions.
type lifecycle struct {
	// onErase, if set, is told of a visitor whose erasure has begun.
	onErase atomic.Pointer[func(visitorID string)]
	// idle is SweepIdle's position between calls (idle.go).
	idle idleSweep
}

// OnErase registers fn to be told (on the goroutine erasing) of every
// visitor whose erasure begins, so the owner of its live sessions stops
// them (widget.Gateway.DropVisitor).
func (s *Store) OnErase(fn func(visitorID string)) { s.life.onErase.Store(&fn) }

// eraseRounds bounds how often EraseVisitor starts over because a session
// or file of the visitor turned up while it was being erased.
const eraseRounds = 5

// eraseBatch is how many rows one transaction of an erase deletes: a
// visitor with 100,000 messages is erased in small transactions that never
// hold many locks or much of the write-ahead log at once.
const eraseBatch = 5000

// chunkBatch is how many file chunks (storage.FileChunkSize each) one
// transaction of an erase deletes.
const chunkBatch = 64

// sqlFence fences a visitor for EraseVisitor.
const sqlFence = `UPDATE visitors SET erasing = true WHERE id = $1 AND NOT erasing`

// sqlVisitorSessions lists a visitor's sessions (sessions_by_visitor_id).
const sqlVisitorSessions = `SELECT id FROM sessions WHERE visitor_id = $1 ORDER BY started_at, id`

// sqlMergedBrowsers lists the browsers merged into a visitor (visitor_merges_by_into).
const sqlMergedBrowsers = `SELECT from_id FROM visitor_merges WHERE into_id = $1`

// sqlSessionsLeft tells whether a visitor has a session or a file left.
const sqlSessionsLeft = `SELECT EXISTS (SELECT 1 FROM sessions WHERE visitor_id = $1) OR EXISTS (SELECT 1 FROM files WHERE visitor_id = $1)`

// sqlVisitorFiles lists a visitor's files (files_by_visitor).
const sqlVisitorFiles = `SELECT id FROM files WHERE visitor_id = $1 ORDER BY id`

// EraseVisitor deletes the visitor and everything recorded of it: its
// row, every session with its messages, inputs, gaps, acks, idle markers,
// inbox record and agents' notes, every file with its chunks, the webhook
// events waiting for it, the logged attempts that carry its data and its
// search words (those of a browser merged into it too), its merges and
// profile changes. Usage counters are aggregates and stay. Erasing a
// visitor that does not exist does nothing and is no error.
//
// It begins by fencing the visitor (visitors.erasing, committed before
// anything is deleted): from then on no session, turn or file is added
// for it (they fail with storage.ErrErasing), and the OnErase hook stops
// its live sessions. Then it deletes in transactions of at most eraseBatch
// rows, each session's and file's children before the row that leads to
// them, so a crash half-way leaves a fenced visitor whose remains the next
// EraseVisitor, or the retention sweep, finds and finishes. The visitor's
// row goes last, with its visitor.erased event, in a transaction that
// checks that no session or file is left.
//
// A browser that comes back with the visitor's cookie after the erase is
// recorded afresh, as a new visitor with the same ID.
func (s *Store) EraseVisitor(ctx context.Context, id string) (storage.EraseResult, error) {
	var res storage.EraseResult
	if err := storage.CheckEraseID(id); err != nil {
		return res, err
	}
	// Fenced now, by this call or an earlier one, or there is no row: a
	// visitor with no row is fenced trivially.
	if _, err := s.pool.Exec(ctx, sqlFence, id); err != nil {
		return res, fmt.Errorf("postgres: erase visitor %s: %w", id, err)
	}
	s.erasing(id)
	err := s.eraseFenced(ctx, id, &res)
	return res, err
}

// erasing tells the OnErase hook that the visitor's erasure began.
func (s *Store) erasing(id string) {
	if fn := s.life.onErase.Load(); fn != nil {
		(*fn)(id)
	}
}

// eraseFenced erases a fenced visitor: EraseVisitor after the fence.
func (s *Store) eraseFenced(ctx context.Context, id string, res *storage.EraseResult) error {
	for range eraseRounds {
		sids, err := s.ids(ctx, sqlVisitorSessions, id)
		if err != nil {
			return fmt.Errorf("postgres: erase visitor %s: %w", id, err)
		}
		for _, sid := range sids {
			if err := s.eraseSession(ctx, id, sid, res); err != nil {
				return fmt.Errorf("postgres: erase visitor %s: session %s: %w", id, sid, err)
			}
		}
		if err := s.eraseFiles(ctx, id, res); err != nil {
			return fmt.Errorf("postgres: erase visitor %s: %w", id, err)
		}
		// Events and logged attempts that carry its data go too; the
		// visitor.erased below tells the endpoints.
		if err := s.purgeOutbox(ctx, id, res); err != nil {
			return fmt.Errorf("postgres: erase visitor %s: %w", id, err)
		}
		done, err := s.eraseVisitorRow(ctx, id, res)
		if err != nil {
			return fmt.Errorf("postgres: erase visitor %s: %w", id, err)
		}
		if done {
			return nil
		}
	}
	return fmt.Errorf("postgres: erase visitor %s: it kept getting new sessions or files; try again", id)
}

// sessionChildren are the tables of a session's rows, by their key
// columns, that go before the session's own row; messages first (the
// erase counts them). The inbox's rows go with the session's
// (ON DELETE CASCADE), its unanswered texts with its row (sqlDeleteGaps).
var sessionChildren = []struct{ table, key string }{
	{"messages", "session_id, id"},
	{"inputs", "session_id, n"},
	{"acks", "session_id, client_id"},
}

// eraseSession deletes one session of the visitor and everything under
// it: the bulk of its rows in small transactions, then its row last, so a
// crash leaves the way to what remains. The row goes in one transaction
// with what a turn in flight added meanwhile: a turn that read the
// visitor before the fence holds the session's row until it commits, so
// once the row is locked nothing more comes (a later turn sees the fence,
// or no session).
func (s *Store) eraseSession(ctx context.Context, visitorID, sid string, res *storage.EraseResult) error {
	var owner string
	switch err := s.pool.QueryRow(ctx, `SELECT visitor_id FROM sessions WHERE id = $1`, sid).Scan(&owner); {
	case errors.Is(err, pgx.ErrNoRows):
		return nil // erased meanwhile
	case err != nil:
		return err
	case owner != visitorID:
		return nil // not this visitor's
	}
	for _, c := range sessionChildren {
		n, err := s.deleteBatched(ctx, c.table, c.key, `session_id = $1`, sid, eraseBatch)
		res.Keys += n
		if c.table == "messages" {
			res.Messages += n
		}
		if err != nil {
			return err
		}
	}
	var keys, msgs int
	var existed bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		keys, msgs, existed = 0, 0, false
		switch err := tx.QueryRow(ctx, `SELECT true FROM sessions WHERE id = $1 AND visitor_id = $2 FOR UPDATE`, sid, visitorID).Scan(&existed); {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return err
		}
		b := &pgx.Batch{}
		for _, c := range sessionChildren {
			b.Queue(`DELETE FROM `+c.table+` WHERE session_id = $1`, sid)
		}
		b.Queue(`DELETE FROM sessions_timed_out WHERE session_id = $1`, sid)
		b.Queue(`DELETE FROM sessions_idle_held WHERE session_id = $1`, sid)
		b.Queue(sqlDeleteGaps, sid)    // its unanswered texts, off the report's counters (gapcount.go): 50 at most
		b.Queue(sqlDeleteSession, sid) // and its funnel counts (counters.go)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		for i := range b.Len() {
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			keys += int(tag.RowsAffected())
			if i == 0 {
				msgs += int(tag.RowsAffected())
			}
		}
		return br.Close()
	})
	if err != nil {
		return err
	}
	res.Keys += keys
	res.Messages += msgs
	if existed {
		res.Sessions++
	}
	return nil
}

// eraseFiles deletes the visitor's files: each one's chunks, then its
// row, so a crash leaves the way to what remains.
func (s *Store) eraseFiles(ctx context.Context, visitorID string, res *storage.EraseResult) error {
	fids, err := s.ids(ctx, sqlVisitorFiles, visitorID)
	if err != nil {
		return err
	}
	for _, fid := range fids {
		n, err := s.deleteBatched(ctx, "file_chunks", "file_id, n", `file_id = $1`, fid, chunkBatch)
		res.Keys += n
		if err != nil {
			return fmt.Errorf("file %s: %w", fid, err)
		}
		tag, err := s.pool.Exec(ctx, `DELETE FROM files WHERE id = $1 AND visitor_id = $2`, fid, visitorID)
		if err != nil {
			return fmt.Errorf("file %s: %w", fid, err)
		}
		if tag.RowsAffected() > 0 {
			res.Files++
			res.Keys++
		}
	}
	return nil
}

// purgeOutbox deletes the events waiting for any endpoint, the logged
// attempts and the search words that concern the visitor, or a browser's
// visitor merged into it: its data must not outlive its erase there
// either.
func (s *Store) purgeOutbox(ctx context.Context, visitorID string, res *storage.EraseResult) error {
	merged, err := s.ids(ctx, sqlMergedBrowsers, visitorID)
	if err != nil {
		return err
	}
	for _, id := range append([]string{visitorID}, merged...) {
		for {
			eps, err := s.ids(ctx, deleteBatchSQL("webhook_outbox", "endpoint, seq", `visitor_id = $1`, eraseBatch)+` RETURNING endpoint`, id)
			if err != nil {
				return fmt.Errorf("delete from webhook_outbox: %w", err)
			}
			res.Keys += len(eps)
			for _, ep := range eps {
				s.ob.Left(ep, 1)
			}
			if len(eps) < eraseBatch {
				break
			}
		}
		for _, t := range []struct{ table, key string }{
			{"webhook_log", "endpoint, seq"},
			{"visitor_terms", "term, visitor_id"}, // its search words
		} {
			n, err := s.deleteBatched(ctx, t.table, t.key, `visitor_id = $1`, id, eraseBatch)
			res.Keys += n
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// eraseVisitorRow deletes the visitor's row with its merges and profile
// changes, unless a session or file is left (done is false then). The
// visitor.erased event commits with it.
func (s *Store) eraseVisitorRow(ctx context.Context, id string, res *storage.EraseResult) (done bool, err error) {
	var existed bool
	var keys int
	var events *storage.Reservation
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		done, existed, keys = false, false, 0
		var site string
		switch err := tx.QueryRow(ctx, `SELECT site FROM visitors WHERE id = $1 FOR UPDATE`, id).Scan(&site); {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			existed = true
		}
		var left bool
		if err := tx.QueryRow(ctx, sqlSessionsLeft, id).Scan(&left); err != nil || left {
			return err
		}
		done = true
		if !existed {
			return nil
		}
		for _, sql := range []string{
			`DELETE FROM visitor_merges WHERE into_id = $1`,
			`DELETE FROM visitors WHERE id = $1`,
		} {
			tag, err := tx.Exec(ctx, sql, id)
			if err != nil {
				return err
			}
			keys += int(tag.RowsAffected())
		}
		// The search words of its name, email and phone (query_users.go).
		if _, err := tx.Exec(ctx, deleteTerms, id); err != nil {
			return err
		}
		var err error
		events, err = s.enqueueErased(ctx, tx, site, id, time.Now())
		return err
	})
	if err != nil {
		events.Release()
		return false, err
	}
	events.Committed()
	res.Visitor = res.Visitor || existed
	res.Keys += keys
	return done, nil
}

// enqueueErased writes the visitor.erased event in tx, returning the
// backlog it took.
func (s *Store) enqueueErased(ctx context.Context, tx pgx.Tx, site, id string, at time.Time) (*storage.Reservation, error) {
	b := &pgx.Batch{}
	r, err := s.enqueue(b, []storage.Event{{Type: storage.EventVisitorErased, Site: site, Visitor: id, At: at}})
	if err != nil || b.Len() == 0 {
		return r, err
	}
	return r, tx.SendBatch(ctx, b).Close()
}

// deleteBatched deletes the rows of table matching where (its one
// argument arg) in transactions of at most batch rows, key being the
// table's primary key columns, and returns how many it deleted. Use it
// only for rows nothing adds any more (the children of a fenced visitor).
func (s *Store) deleteBatched(ctx context.Context, table, key, where string, arg any, batch int) (int, error) {
	sql := deleteBatchSQL(table, key, where, batch)
	total := 0
	for {
		tag, err := s.pool.Exec(ctx, sql, arg)
		if err != nil {
			return total, fmt.Errorf("delete from %s: %w", table, err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n < batch {
			return total, nil
		}
	}
}

// deleteBatchSQL deletes up to batch rows of table matching where.
func deleteBatchSQL(table, key, where string, batch int) string {
	return `DELETE FROM ` + table + ` WHERE (` + key + `) IN (SELECT ` + key + ` FROM ` + table + ` WHERE ` + where + ` LIMIT ` + fmt.Sprint(batch) + `)`
}

// ids returns the first column of the query's rows.
func (s *Store) ids(ctx context.Context, sql string, args ...any) ([]string, error) {
	return queryIDs(ctx, s.pool, sql, args...)
}

// queryIDs returns the first column of the query's rows on q.
func queryIDs(ctx context.Context, q querier, sql string, args ...any) ([]string, error) {
	rows, _ := q.Query(ctx, sql, args...)
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
