package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// lifecycleStore opens a store on a database of the test's own.
func lifecycleStore(tb testing.TB) *Store {
	tb.Helper()
	st, err := Open(context.Background(), postgrestest.URL(tb), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// seedRows writes a visitor of site with one session of n messages (and
// an input, a gap and an ack) straight into the tables, as a store of
// that size holds them.
func seedRows(tb testing.TB, st *Store, site string, seen time.Time, n int) (visitorID, sessionID string) {
	tb.Helper()
	ctx := context.Background()
	v := &storage.Visitor{ID: storage.NewID(seen), Site: site, Channel: "web", CreatedAt: seen, LastSeenAt: seen}
	sess := &storage.Session{ID: storage.NewID(seen), Site: site, VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web",
		StartedAt: seen, LastActivityAt: seen, MessageCount: n}
	if err := putVisitor(ctx, st.pool, v); err != nil {
		tb.Fatal(err)
	}
	if err := putSession(ctx, st.pool, sess, 0); err != nil {
		tb.Fatal(err)
	}
	if _, err := st.pool.Exec(ctx, `INSERT INTO messages (session_id, id, sender, kind, at, text)
		SELECT $1, lpad(i::text, 26, '0'), 'visitor', 'text', $2, 'hello ' || i FROM generate_series(1, $3::int) AS i`, sess.ID, seen, n); err != nil {
		tb.Fatal(err)
	}
	for _, sql := range []string{
		`INSERT INTO inputs (session_id, n, block, variable, kind, value, at) VALUES ($1, 0, 'b', 'email', 'email', 'a@b.org', $2)`,
		`INSERT INTO gaps (session_id, n, at, text) VALUES ($1, 0, $2, 'what?')`,
		`INSERT INTO acks (session_id, client_id, message_id, at) VALUES ($1, 'c1', 'm1', $2)`,
		`INSERT INTO sessions_timed_out (session_id, ended_at) VALUES ($1, $2)`,
	} {
		if _, err := st.pool.Exec(ctx, sql, sess.ID, seen); err != nil {
			tb.Fatal(err)
		}
	}
	return v.ID, sess.ID
}

// rowsOf counts the rows of the visitor and its session in every table.
func rowsOf(tb testing.TB, st *Store, visitorID, sessionID string) map[string]int {
	tb.Helper()
	out := map[string]int{}
	for table, sql := range map[string]string{
		"visitors":           `SELECT count(*) FROM visitors WHERE id = $1 AND $2 <> ''`,
		"sessions":           `SELECT count(*) FROM sessions WHERE visitor_id = $1 OR id = $2`,
		"messages":           `SELECT count(*) FROM messages WHERE session_id = $2 AND $1 <> ''`,
		"inputs":             `SELECT count(*) FROM inputs WHERE session_id = $2 AND $1 <> ''`,
		"gaps":               `SELECT count(*) FROM gaps WHERE session_id = $2 AND $1 <> ''`,
		"acks":               `SELECT count(*) FROM acks WHERE session_id = $2 AND $1 <> ''`,
		"sessions_timed_out": `SELECT count(*) FROM sessions_timed_out WHERE session_id = $2 AND $1 <> ''`,
	} {
		var n int
		if err := st.pool.QueryRow(context.Background(), sql, visitorID, sessionID).Scan(&n); err != nil {
			tb.Fatal(err)
		}
		if n > 0 {
			out[table] = n
		}
	}
	return out
}

// TestEraseVisitor_Large: a visitor with 100,000 messages is erased in
// transactions of at most eraseBatch rows, leaving nothing.
func TestEraseVisitor_Large(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 messages")
	}
	st := lifecycleStore(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	vid, sid := seedRows(t, st, "demo", at, 100_000)
	kept, keptSession := seedRows(t, st, "demo", at, 10)
	began := time.Now()
	res, err := st.EraseVisitor(ctx, vid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("erased 100,000 messages in %v", time.Since(began).Round(time.Millisecond))
	if !res.Visitor || res.Sessions != 1 || res.Messages != 100_000 {
		t.Errorf("erase: %+v, want the visitor, 1 session, 100000 messages", res)
	}
	if left := rowsOf(t, st, vid, sid); len(left) != 0 {
		t.Errorf("left of the erased visitor: %v", left)
	}
	if got := rowsOf(t, st, kept, keptSession); got["messages"] != 10 || got["visitors"] != 1 || got["sessions"] != 1 {
		t.Errorf("the other visitor: %v", got)
	}
}

// TestEraseVisitor_Resumes: a visitor fenced by an erase that died half
// way is finished by the next retention sweep, whatever its retention.
func TestEraseVisitor_Resumes(t *testing.T) {
	st := lifecycleStore(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	vid, sid := seedRows(t, st, "demo", at, 20)
	kept, keptSession := seedRows(t, st, "demo", at, 20)
	// The erase died after its fence and the first messages.
	if _, err := st.pool.Exec(ctx, `UPDATE visitors SET erasing = true WHERE id = $1`, vid); err != nil {
		t.Fatal(err)
	}
	if _, err := st.pool.Exec(ctx, `DELETE FROM messages WHERE session_id = $1 AND id < $2`, sid, "00000000000000000000000010"); err != nil {
		t.Fatal(err)
	}
	var told []string
	st.OnErase(func(id string) { told = append(told, id) })
	res, err := st.SweepRetention(ctx, at.Add(time.Hour), storage.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Visitors != 1 || res.Sessions != 1 {
		t.Errorf("sweep: %+v, want the half-erased visitor finished", res)
	}
	if left := rowsOf(t, st, vid, sid); len(left) != 0 {
		t.Errorf("left of the erased visitor: %v", left)
	}
	if got := rowsOf(t, st, kept, keptSession); got["messages"] != 20 {
		t.Errorf("the other visitor: %v", got)
	}
	if len(told) != 1 || told[0] != vid {
		t.Errorf("OnErase told of %v, want %s", told, vid)
	}
}

// TestSweepRetention_VisitorComesBack: a visitor long gone sends a message
// while the sweep is deciding to erase it. The message was acked, so the
// visitor must be kept, with it; a later sweep erases it.
func TestSweepRetention_VisitorComesBack(t *testing.T) {
	st := lifecycleStore(t)
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	long := now.Add(-60 * 24 * time.Hour)
	v := &storage.Visitor{ID: storage.NewID(long), Site: "demo", Channel: "web", CreatedAt: long}
	sess := &storage.Session{ID: storage.NewID(long), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: long}
	if err := st.StartSession(ctx, v, sess, nil); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var ack storage.Ack
	var turnErr error
	expireHook = func(string) {
		// The sweep has read the visitor as last seen 60 days ago; now it
		// comes back before the sweep acts on that.
		once.Do(func() {
			_, ack, _, turnErr = st.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, ClientID: "c1", Messages: []storage.Message{
				{From: storage.FromVisitor, Kind: storage.KindText, At: now, Text: "I'm back", ClientID: "c1"},
			}})
		})
	}
	defer func() { expireHook = nil }()
	month := storage.Retention{Default: 30 * 24 * time.Hour}
	res, err := st.SweepRetention(ctx, now, month)
	if err != nil {
		t.Fatal(err)
	}
	if turnErr != nil || ack.ID == "" {
		t.Fatalf("the visitor's turn: ack %+v, %v; want it stored", ack, turnErr)
	}
	if res.Visitors != 0 {
		t.Errorf("sweep erased %d visitors, want none: the visitor came back", res.Visitors)
	}
	msgs, err := st.Messages(ctx, sess.ID, 0)
	if err != nil || len(msgs) != 1 || msgs[0].ID != ack.ID {
		t.Fatalf("messages after the sweep: %+v, %v; want the acked one", msgs, err)
	}
	if res, err := st.SweepRetention(ctx, now.Add(31*24*time.Hour), month); err != nil || res.Visitors != 1 {
		t.Fatalf("sweep a month later: %+v, %v; want the visitor erased", res, err)
	}
	if _, err := st.Visitor(ctx, v.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("visitor after the later sweep: %v; want ErrNotFound", err)
	}
}

// TestEraseVisitor_Interrupted: an erase cut off half-way (its context
// ends, as when the process dies) leaves the visitor fenced, refusing
// turns; the next retention sweep finishes it.
func TestEraseVisitor_Interrupted(t *testing.T) {
	st := lifecycleStore(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	vid, sid := seedRows(t, st, "demo", at, 30_000)
	ctx, cancel := context.WithCancel(context.Background())
	st.OnErase(func(string) {
		// Cut it off once the first batch of messages is gone.
		go func() {
			for n := 30_000; n > 30_000-eraseBatch; time.Sleep(time.Millisecond) {
				if err := st.pool.QueryRow(context.Background(), `SELECT count(*) FROM messages WHERE session_id = $1`, sid).Scan(&n); err != nil {
					t.Error(err)
					break
				}
			}
			cancel()
		}()
	})
	if _, err := st.EraseVisitor(ctx, vid); !errors.Is(err, context.Canceled) {
		t.Fatalf("erase cut off: %v, want context.Canceled", err)
	}
	left := rowsOf(t, st, vid, sid)
	if left["visitors"] != 1 || left["messages"] == 0 || left["messages"] == 30_000 {
		t.Fatalf("after the cut: %v, want the visitor and some of its messages", left)
	}
	_, _, _, err := st.RecordTurn(context.Background(), &storage.Turn{SessionID: sid, ClientID: "late",
		Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: at, Text: "hello?", ClientID: "late"}}})
	if !errors.Is(err, storage.ErrErasing) {
		t.Errorf("turn of the fenced visitor: %v, want ErrErasing", err)
	}
	st.OnErase(func(string) {})
	res, err := st.SweepRetention(context.Background(), at, storage.Retention{})
	if err != nil || res.Visitors != 1 || res.Sessions != 1 {
		t.Fatalf("sweep: %+v, %v; want the erase finished", res, err)
	}
	if left := rowsOf(t, st, vid, sid); len(left) != 0 {
		t.Errorf("left after the sweep: %v", left)
	}
}
