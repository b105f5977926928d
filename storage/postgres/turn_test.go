package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func openTest(tb testing.TB, dbURL string, opts Options) *Store {
	tb.Helper()
	s, err := Open(context.Background(), dbURL, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// startSessions starts n sessions, each of its own visitor, and returns
// them as their owners hold them.
func startSessions(tb testing.TB, s *Store, n int) []*storage.Session {
	tb.Helper()
	out := make([]*storage.Session, n)
	for i := range out {
		v := &storage.Visitor{ID: storage.NewID(t0), Site: "demo", Channel: "web", CreatedAt: t0}
		sess := &storage.Session{ID: storage.NewID(t0), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: t0}
		if err := s.CreateSession(context.Background(), v, sess); err != nil {
			tb.Fatal(err)
		}
		out[i] = sess
	}
	return out
}

func textTurn(sess *storage.Session, cid string, at time.Time) *storage.Turn {
	return &storage.Turn{SessionID: sess.ID, ClientID: cid, Prev: sess, Messages: []storage.Message{
		{From: storage.FromVisitor, Kind: storage.KindText, At: at, Text: "hi " + cid, ClientID: cid},
		{From: storage.FromBot, Kind: storage.KindBot, At: at, Text: "hello"},
	}}
}

func count(tb testing.TB, s *Store, sql string, args ...any) int {
	tb.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestRecordTurn_GroupCommit: concurrent turns of many sessions are
// committed together, fewer commits than turns, and every acked turn is
// stored.
func TestRecordTurn_GroupCommit(t *testing.T) {
	s := openTest(t, postgrestest.URL(t), Options{})
	owners := startSessions(t, s, 32)
	const turns = 10
	before := s.turns.commits.batches.Load()
	var wg sync.WaitGroup
	for i := range owners {
		wg.Go(func() {
			for n := range turns {
				next, ack, _, err := s.RecordTurn(context.Background(), textTurn(owners[i], fmt.Sprintf("c%d", n), t0.Add(time.Duration(n+1)*time.Second)))
				if err != nil || ack.ID == "" {
					t.Errorf("turn: %+v, %v", ack, err)
					return
				}
				owners[i] = next
			}
		})
	}
	wg.Wait()
	batches := s.turns.commits.batches.Load() - before
	if total := int64(len(owners) * turns); batches >= total {
		t.Errorf("%d turns took %d commits: no group commit", total, batches)
	}
	t.Logf("%d turns in %d commits", len(owners)*turns, batches)
	if n := count(t, s, `SELECT count(*) FROM messages`); n != 2*turns*len(owners) {
		t.Errorf("%d messages stored, want %d", n, 2*turns*len(owners))
	}
}

// TestRecordTurn_BadTurnInCommit: a turn the database refuses (here: an
// owner's stale copy, whose messages and inputs are stored already) fails
// alone; the other turns of its commit are stored.
func TestRecordTurn_BadTurnInCommit(t *testing.T) {
	s := openTest(t, postgrestest.URL(t), Options{})
	owners := startSessions(t, s, 2)
	stale := owners[0]
	if _, _, _, err := s.RecordTurn(context.Background(), textTurn(stale, "c1", t0.Add(time.Second))); err != nil {
		t.Fatal(err)
	}
	write := func(tr *storage.Turn) *turnWrite {
		next, ack, err := storage.NextSession(tr, tr.Prev)
		if err != nil {
			t.Fatal(err)
		}
		w, err := newTurnWrite(tr, tr.Prev, next, ack)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	// The stale copy's turn takes the same message IDs again.
	bad, good := write(textTurn(stale, "c1", t0.Add(time.Second))), write(textTurn(owners[1], "c1", t0.Add(time.Second)))
	s.turns.commits.commit([]*turnWrite{bad, good})
	if err := <-bad.err; !isDataError(err) {
		t.Errorf("the stale turn: %v, want a duplicate key", err)
	}
	if err := <-good.err; err != nil {
		t.Errorf("the good turn: %v", err)
	}
	if n := count(t, s, `SELECT count(*) FROM messages WHERE session_id = $1`, owners[1].ID); n != 2 {
		t.Errorf("the good turn's session has %d messages, want 2", n)
	}
	if n := count(t, s, `SELECT message_count FROM sessions WHERE id = $1`, stale.ID); n != 2 {
		t.Errorf("the stale session counts %d messages, want 2", n)
	}
}

// TestRecordTurn_Erasing: once a visitor's erasure has begun, its turns
// and starts are refused with ErrErasing, and nothing of them is stored.
func TestRecordTurn_Erasing(t *testing.T) {
	s := openTest(t, postgrestest.URL(t), Options{})
	ctx := context.Background()
	own := startSessions(t, s, 1)[0]
	if _, err := s.pool.Exec(ctx, `UPDATE visitors SET erasing = true WHERE id = $1`, own.VisitorID); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.RecordTurn(ctx, textTurn(own, "c1", t0.Add(time.Second))); !errors.Is(err, storage.ErrErasing) {
		t.Errorf("owner's turn: %v, want ErrErasing", err)
	}
	tr := textTurn(own, "c2", t0.Add(time.Second))
	tr.Prev = nil
	if _, _, _, err := s.RecordTurn(ctx, tr); !errors.Is(err, storage.ErrErasing) {
		t.Errorf("turn without an owner: %v, want ErrErasing", err)
	}
	if n := count(t, s, `SELECT count(*) FROM messages`) + count(t, s, `SELECT count(*) FROM acks`); n != 0 {
		t.Errorf("%d messages and acks stored for a visitor being erased", n)
	}
	v := &storage.Visitor{ID: own.VisitorID, Site: "demo", CreatedAt: t0}
	sess := &storage.Session{ID: storage.NewID(t0), Site: "demo", VisitorID: v.ID, Bot: "demo", StartedAt: t0}
	if err := s.CreateSession(ctx, v, sess); !errors.Is(err, storage.ErrErasing) {
		t.Errorf("start: %v, want ErrErasing", err)
	}
	if n := count(t, s, `SELECT count(*) FROM sessions`); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}
}

// TestStartSession_Merged: a browser's visitor merged into another
// (identify) starts no session of its own: ErrMerged.
func TestStartSession_Merged(t *testing.T) {
	s := openTest(t, postgrestest.URL(t), Options{})
	ctx := context.Background()
	into := startSessions(t, s, 1)[0]
	from := storage.NewID(t0)
	if _, err := s.pool.Exec(ctx, `INSERT INTO visitor_merges (from_id, into_id, merged_at) VALUES ($1, $2, $3)`, from, into.VisitorID, t0); err != nil {
		t.Fatal(err)
	}
	v := &storage.Visitor{ID: from, Site: "demo", CreatedAt: t0}
	sess := &storage.Session{ID: storage.NewID(t0), Site: "demo", VisitorID: from, Bot: "demo", StartedAt: t0}
	if err := s.CreateSession(ctx, v, sess); !errors.Is(err, storage.ErrMerged) {
		t.Fatalf("start: %v, want ErrMerged", err)
	}
	// A turn of a session moved to the other visitor rolls into that one.
	if _, err := s.pool.Exec(ctx, `UPDATE sessions SET visitor_id = 'elsewhere' WHERE id = $1`, into.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateVisitor(ctx, &storage.Visitor{ID: "elsewhere", Site: "demo", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.RecordTurn(ctx, textTurn(into, "c1", t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	got, err := s.Visitor(ctx, "elsewhere")
	if err != nil || got.LastMessage != "hi c1" || !got.LastSeenAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("the visitor the session moved to: %+v, %v", got, err)
	}
}

// TestRecordTurn_Outage: while the database does not answer, a turn fails
// within the statement timeout with nothing of it written, and the store
// takes turns again by itself once the database is back.
func TestRecordTurn_Outage(t *testing.T) {
	db := postgrestest.URL(t)
	p := newProxy(t, db)
	s := openTest(t, p.url(t, db), Options{StatementTimeout: time.Second, MaxConns: 2})
	own := startSessions(t, s, 1)[0]
	ctx := context.Background()
	own, _, _, err := s.RecordTurn(ctx, textTurn(own, "c1", t0.Add(time.Second)))
	if err != nil {
		t.Fatal(err)
	}

	p.blackHole(true) // packets go nowhere, as to a host that is gone
	start := time.Now()
	_, _, _, err = s.RecordTurn(ctx, textTurn(own, "c2", t0.Add(2*time.Second)))
	if err == nil {
		t.Fatal("a turn was acked while the database was unreachable")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the failed turn took %v, want about the statement timeout (1 s)", took)
	}
	t.Logf("turn during the outage: %v after %v", err, time.Since(start).Round(time.Millisecond))

	p.blackHole(false)
	deadline := time.Now().Add(20 * time.Second)
	for {
		// The same turn again, as the widget resends it: stored once
		// whatever became of the first try.
		next, _, dup, err := s.RecordTurn(ctx, textTurn(own, "c2", t0.Add(2*time.Second)))
		if err == nil {
			t.Logf("after the outage: dup %v", dup)
			own = next
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no turn recorded after the database came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	direct := openTest(t, db, Options{})
	if n := count(t, direct, `SELECT count(*) FROM messages WHERE session_id = $1`, own.ID); n != 4 {
		t.Errorf("%d messages stored, want 4: the failed turn left something, or the retry did not store", n)
	}
}

// proxy forwards TCP connections to the test server's Unix socket, and
// can stop forwarding (a black hole) to play an unreachable database.
type proxy struct {
	ln     net.Listener
	socket string
	mu     sync.Mutex
	hole   bool
	conns  []net.Conn
}

func newProxy(tb testing.TB, db string) *proxy {
	tb.Helper()
	u, err := url.Parse(db)
	if err != nil {
		tb.Fatal(err)
	}
	host := u.Query().Get("host")
	if host == "" || host[0] != '/' {
		tb.Skipf("the outage test proxies to a Unix socket; the server is at %q", u.Host)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	p := &proxy{ln: ln, socket: host + "/.s.PGSQL." + port}
	go p.serve()
	tb.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

// url is db's URL through the proxy.
func (p *proxy) url(tb testing.TB, db string) string {
	u, _ := url.Parse(db)
	q := u.Query()
	q.Del("host")
	u.RawQuery = q.Encode()
	u.Host = "127.0.0.1:" + strconv.Itoa(p.ln.Addr().(*net.TCPAddr).Port)
	return u.String()
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("unix", p.socket)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst, dropping what it reads while in the hole.
func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			hole := p.hole
			p.mu.Unlock()
			if !hole {
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *proxy) blackHole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hole = on
}

// TestOutbox_TwoNodes: two stores on one database write events for the
// same endpoint at once: every event is kept, none takes another's seq,
// and each session's events keep their order.
func TestOutbox_TwoNodes(t *testing.T) {
	db := postgrestest.URL(t)
	nodes := []*Store{openTest(t, db, Options{}), openTest(t, db, Options{})}
	route := storage.OutboxConfig{Route: func(site, typ string) []string { return []string{"demo/a"} }}
	var owners [][]*storage.Session
	for _, s := range nodes {
		s.SetOutbox(route)
		owners = append(owners, startSessions(t, s, 8))
	}
	const turns = 10
	var wg sync.WaitGroup
	for i, s := range nodes {
		for j := range owners[i] {
			wg.Go(func() {
				for n := range turns {
					next, _, _, err := s.RecordTurn(context.Background(), textTurn(owners[i][j], fmt.Sprintf("c%d", n), t0.Add(time.Duration(n+1)*time.Second)))
					if err != nil {
						t.Errorf("turn: %v", err)
						return
					}
					owners[i][j] = next
				}
			})
		}
	}
	wg.Wait()
	// session.started, then two message.created per turn.
	want := 2 * 8 * (1 + 2*turns)
	if n := count(t, nodes[0], `SELECT count(*) FROM webhook_outbox WHERE endpoint = 'demo/a'`); n != want {
		t.Fatalf("%d events waiting, want %d", n, want)
	}
	if st := nodes[0].OutboxStats("demo/a"); st.Waiting != want {
		t.Errorf("stats %+v, want %d waiting", st, want)
	}
	// Within a session (a lane), seq order is the order of its messages.
	rows, err := nodes[0].pool.Query(context.Background(), `SELECT lane, convert_from(body, 'UTF8')::jsonb #>> '{data,message,id}'
		FROM webhook_outbox WHERE type = 'message.created' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]string{}
	for rows.Next() {
		var lane, id string
		if err := rows.Scan(&lane, &id); err != nil {
			t.Fatal(err)
		}
		if id <= last[lane] {
			t.Fatalf("lane %s: message %s after %s", lane, id, last[lane])
		}
		last[lane] = id
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestOutbox_RefusedTurn: a turn the commit refuses (its visitor is being
// erased) writes no event and gives its backlog back.
func TestOutbox_RefusedTurn(t *testing.T) {
	s := openTest(t, postgrestest.URL(t), Options{})
	own := startSessions(t, s, 1)[0]
	s.SetOutbox(storage.OutboxConfig{Route: func(site, typ string) []string { return []string{"demo/a"} }, MaxBacklog: 2})
	if _, err := s.pool.Exec(context.Background(), `UPDATE visitors SET erasing = true WHERE id = $1`, own.VisitorID); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.RecordTurn(context.Background(), textTurn(own, "c1", t0.Add(time.Second))); !errors.Is(err, storage.ErrErasing) {
		t.Fatalf("turn: %v, want ErrErasing", err)
	}
	if n := count(t, s, `SELECT count(*) FROM webhook_outbox`); n != 0 {
		t.Fatalf("%d events of a refused turn", n)
	}
	if taken := s.ob.Stats("demo/a").Waiting; taken != 0 {
		t.Fatalf("the refused turn holds %d of the backlog", taken)
	}
}

// TestRecordTurn_Rounds: a commit holding two turns of one session and
// turns of two sessions of one visitor writes them in rounds (a statement
// updates a row once), each session's turns in their order, and every
// rollup lands.
func TestRecordTurn_Rounds(t *testing.T) {
	s := openTest(t, postgrestest.URL(t), Options{})
	ctx := context.Background()
	vid := storage.NewID(t0)
	var owners []*storage.Session
	for i := range 2 {
		v := &storage.Visitor{ID: vid, Site: "demo", CreatedAt: t0}
		sess := &storage.Session{ID: storage.NewID(t0.Add(time.Duration(i) * time.Second)), Site: "demo", VisitorID: vid, Bot: "demo", StartedAt: t0}
		if err := s.CreateSession(ctx, v, sess); err != nil {
			t.Fatal(err)
		}
		owners = append(owners, sess)
	}
	other := startSessions(t, s, 1)[0]
	write := func(tr *storage.Turn) (*turnWrite, *storage.Session) {
		next, ack, err := storage.NextSession(tr, tr.Prev)
		if err != nil {
			t.Fatal(err)
		}
		w, err := newTurnWrite(tr, tr.Prev, next, ack)
		if err != nil {
			t.Fatal(err)
		}
		return w, next
	}
	a1, a1next := write(textTurn(owners[0], "a1", t0.Add(time.Second)))
	a2tr := textTurn(a1next, "a2", t0.Add(2*time.Second))
	a2tr.Inputs = []storage.Input{{Variable: "email", Kind: "email", Value: "ann@example.org", At: t0.Add(2 * time.Second)}}
	a2, _ := write(a2tr)
	b1tr := textTurn(owners[1], "b1", t0.Add(3*time.Second))
	b1tr.Inputs = []storage.Input{{Variable: "first_name", Kind: "text", Value: "Ann", At: t0.Add(3 * time.Second)}}
	b1, _ := write(b1tr)
	c1, _ := write(textTurn(other, "c1", t0.Add(time.Second)))
	batch := []*turnWrite{a1, a2, b1, c1}
	if rs := rounds(batch); len(rs) != 3 || len(rs[0]) != 2 || rs[0][0] != a1 || rs[0][1] != c1 || rs[1][0] != a2 || rs[2][0] != b1 {
		t.Fatalf("rounds: %v", rs)
	}
	s.turns.commits.commit(batch)
	for _, w := range batch {
		if err := <-w.err; err != nil {
			t.Fatalf("turn of %s: %v", w.session, err)
		}
	}
	got, err := s.Visitor(ctx, vid)
	if err != nil || got.Email != "ann@example.org" || got.Name != "Ann" || got.LastMessage != "hi b1" || !got.LastSeenAt.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("visitor: %+v, %v", got, err)
	}
	sess, err := s.Session(ctx, owners[0].ID)
	if err != nil || sess.MessageCount != 4 || len(sess.Inputs) != 1 {
		t.Fatalf("session with two turns in the commit: %+v, %v", sess, err)
	}
	if msgs, _ := s.Messages(ctx, owners[0].ID, 0); len(msgs) != 4 || msgs[0].Text != "hi a1" || msgs[2].Text != "hi a2" {
		t.Fatalf("messages: %+v", msgs)
	}
}

// TestStartSession_SameNewVisitor: starts of one new visitor at once (two
// tabs, two nodes) create it once; each moves it on, none back.
func TestStartSession_SameNewVisitor(t *testing.T) {
	s := openTest(t, postgrestest.URL(t), Options{})
	ctx := context.Background()
	vid := storage.NewID(t0)
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			at := t0.Add(time.Duration(i) * time.Minute)
			v := &storage.Visitor{ID: vid, Site: "demo", CreatedAt: at}
			sess := &storage.Session{ID: storage.NewID(at), Site: "demo", VisitorID: vid, Bot: "demo", StartedAt: at}
			opening := &storage.Turn{Inputs: []storage.Input{{Variable: fmt.Sprint("v", i), Kind: "text", Value: "x", At: at}}}
			if err := s.StartSession(ctx, v, sess, opening); err != nil {
				t.Errorf("start %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got, err := s.Visitor(ctx, vid)
	if err != nil || !got.LastSeenAt.Equal(t0.Add((n-1)*time.Minute)) || len(got.Variables) != n {
		t.Fatalf("visitor: %+v, %v; want seen at the last start, %d variables", got, err, n)
	}
	if ids, _ := s.VisitorSessionIDs(ctx, vid); len(ids) != n {
		t.Fatalf("%d sessions, want %d", len(ids), n)
	}
}

// TestRecordTurn_ResendAfterLostAnswer: an owner resending a turn whose
// commit went through though it answered an error (the owner's copy does
// not know the client ID) gets the first ack, dup, and nothing twice.
func TestRecordTurn_ResendAfterLostAnswer(t *testing.T) {
	s := openTest(t, postgrestest.URL(t), Options{})
	ctx := context.Background()
	own := startSessions(t, s, 1)[0]
	_, first, _, err := s.RecordTurn(ctx, textTurn(own, "c1", t0.Add(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	next, ack, dup, err := s.RecordTurn(ctx, textTurn(own, "c1", t0.Add(time.Second)))
	if err != nil || !dup || ack != first || next.MessageCount != 2 {
		t.Fatalf("resend: %+v %+v dup %v %v; want the first ack %+v, dup", next, ack, dup, err, first)
	}
	if n := count(t, s, `SELECT count(*) FROM messages`); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}
