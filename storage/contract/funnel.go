package contract

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// FunnelEngine is what the funnel suite writes and reads: every writer of
// sessions that changes what the funnel counts, and parley check's
// Verify, which compares an engine's counters with the sessions.
type FunnelEngine interface {
	StartSession(ctx context.Context, v *storage.Visitor, sess *storage.Session, opening *storage.Turn) error
	RecordTurn(ctx context.Context, t *storage.Turn) (*storage.Session, storage.Ack, bool, error)
	Session(ctx context.Context, id string) (*storage.Session, error)
	Visitor(ctx context.Context, id string) (*storage.Visitor, error)
	EraseVisitor(ctx context.Context, id string) (storage.EraseResult, error)
	Identify(ctx context.Context, req storage.IdentifyRequest) (*storage.IdentifyResult, error)
	SweepRetention(ctx context.Context, now time.Time, r storage.Retention) (storage.SweepResult, error)
	Funnel(ctx context.Context, q storage.FunnelQuery) (*storage.Funnel, error)
	Verify(ctx context.Context) (*storage.VerifyReport, error)
}

// TestFunnel runs the funnel's suite: over periods that start and end
// anywhere in a day, within one day and across many, of every story,
// version and site, the funnel equals the counts over the sessions
// stored, through everything that changes them (blocks and goals reached
// at the start, in a later turn and days after it, erased visitors,
// identify merges, a retention sweep, all of it at once in one hour), and
// Verify finds the engine's counters sound. open returns a new, empty
// engine, closed when the test ends.
func TestFunnel(t *testing.T, open func(testing.TB) FunnelEngine) {
	t.Run("MatchesBruteForce", func(t *testing.T) { testFunnelWriters(t, open(t)) })
	t.Run("ConcurrentWriters", func(t *testing.T) { testFunnelConcurrentWriters(t, open(t)) })
}

// FunnelFixture is an engine holding two sites' sessions, many a day over
// a few days, whose sessions reach blocks and goals at their start, in a
// turn after it and on later days.
type FunnelFixture struct {
	E        FunnelEngine
	T0       time.Time
	Days     int
	Visitors map[string]*storage.Visitor
	// Sessions are every session written, as last returned by the engine
	// (the erased ones too: Stored tells which are left).
	Sessions []*storage.Session
}

// FunnelBlocks are the blocks a fixture's sessions reach after welcome.
var FunnelBlocks = []string{"menu", "ask name", "ask/email", "phone", "bye"}

// NewFunnelFixture writes 120 visitors with one to three sessions each
// over days days from 2026-03-01 into e.
func NewFunnelFixture(tb testing.TB, e FunnelEngine, r *rand.Rand, days int) *FunnelFixture {
	tb.Helper()
	f := &FunnelFixture{E: e, T0: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Days: days, Visitors: map[string]*storage.Visitor{}}
	ctx := context.Background()
	for range 120 {
		// Whole microseconds, the precision every engine keeps.
		start := f.T0.Add(time.Duration(r.Int64N(int64(days) * int64(24*time.Hour)))).Truncate(time.Microsecond)
		v := &storage.Visitor{ID: storage.NewID(start), Site: []string{"demo", "demo", "other"}[r.IntN(3)], Channel: "web", CreatedAt: start}
		for range 1 + r.IntN(3) {
			sess := &storage.Session{ID: storage.NewID(start), Site: v.Site, VisitorID: v.ID, Bot: []string{"demo", "demo", "sales"}[r.IntN(3)],
				Version: []string{"1", "2"}[r.IntN(2)], Channel: "web", StartedAt: start}
			opening := storage.State{Current: "welcome", Reached: []string{"welcome"}}
			if err := e.StartSession(ctx, v, sess, &storage.Turn{State: &opening}); err != nil {
				tb.Fatal(err)
			}
			st := opening
			st.Reached = append(slices.Clone(st.Reached), FunnelBlocks[:r.IntN(len(FunnelBlocks)+1)]...)
			if r.IntN(3) == 0 {
				st.Goals = []string{"lead"}
			}
			next, _, _, err := e.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, Prev: sess, State: &st, Touch: start.Add(time.Minute)})
			if err != nil {
				tb.Fatal(err)
			}
			f.Sessions = append(f.Sessions, next)
			start = start.Add(time.Duration(r.IntN(36*60)) * time.Minute)
		}
		f.Visitors[v.ID] = v
	}
	return f
}

// LaterTurn records, a day or more after session i's start, a turn that
// reaches another block and, sometimes, another goal.
func (f *FunnelFixture) LaterTurn(tb testing.TB, r *rand.Rand, i int) {
	tb.Helper()
	sess := f.Sessions[i]
	st := sess.State
	// A story records a block or goal once, when first reached.
	if b := fmt.Sprintf("later %d", r.IntN(3)); !slices.Contains(st.Reached, b) {
		st.Reached = append(slices.Clone(st.Reached), b)
	}
	if r.IntN(2) == 0 && !slices.Contains(st.Goals, "call") {
		st.Goals = append(slices.Clone(st.Goals), "call")
	}
	at := sess.StartedAt.Add(time.Duration(24+r.IntN(72)) * time.Hour)
	next, _, _, err := f.E.RecordTurn(context.Background(), &storage.Turn{SessionID: sess.ID, Prev: sess, State: &st, Touch: at})
	if err != nil {
		tb.Fatal(err)
	}
	f.Sessions[i] = next
}

// Stored returns the fixture's sessions the engine still holds, as it
// holds them: what the model counts.
func (f *FunnelFixture) Stored(tb testing.TB) []*storage.Session {
	tb.Helper()
	var out []*storage.Session
	for _, s := range f.Sessions {
		got, err := f.E.Session(context.Background(), s.ID)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, got)
	}
	return out
}

// Check compares the funnel with the model over the stored sessions for
// random periods and the edge cases (CheckFunnels).
func (f *FunnelFixture) Check(t *testing.T, r *rand.Rand) {
	t.Helper()
	sessions := f.Stored(t)
	CheckFunnels(t, f.E, sessions, FunnelPeriods(r, f.T0, f.Days, sessions))
}

// FunnelPeriods are periods to compare over sessions of days days from
// t0: random ones that start and end anywhere in a day, within one day
// and across many, of every story, version and site; whole days, a day
// cut at its start or end only, an hour cut, the whole span; and from and
// to at sessions' own starts, a nanosecond after one too.
func FunnelPeriods(r *rand.Rand, t0 time.Time, days int, sessions []*storage.Session) []storage.FunnelQuery {
	span := int64(days+2) * int64(24*time.Hour)
	var queries []storage.FunnelQuery
	for range 60 {
		from := t0.Add(time.Duration(r.Int64N(span)) - 24*time.Hour)
		to := from.Add(time.Duration(1 + r.Int64N(span/2)))
		if r.IntN(4) == 0 {
			to = from.Add(time.Duration(1 + r.Int64N(int64(24*time.Hour)))) // within a day or two
		}
		q := storage.FunnelQuery{From: from, To: to, Bot: []string{"demo", "sales"}[r.IntN(2)]}
		if r.IntN(3) == 0 {
			q.Version = "2"
		}
		if r.IntN(3) == 0 {
			q.Site = []string{"demo", "other"}[r.IntN(2)]
		}
		queries = append(queries, q)
	}
	queries = append(queries,
		storage.FunnelQuery{From: t0, To: t0.AddDate(0, 0, days), Bot: "demo"},
		storage.FunnelQuery{From: t0.Add(time.Hour), To: t0.AddDate(0, 0, 2), Bot: "demo"},
		storage.FunnelQuery{From: t0.Add(23 * time.Hour), To: t0.AddDate(0, 0, 2), Bot: "demo"},
		storage.FunnelQuery{From: t0, To: t0.AddDate(0, 0, 2).Add(time.Hour), Bot: "demo"},
		storage.FunnelQuery{From: t0, To: t0.AddDate(0, 0, 2).Add(23*time.Hour + 30*time.Minute), Bot: "demo"},
		storage.FunnelQuery{From: t0.AddDate(0, 0, 1).Add(time.Hour), To: t0.AddDate(0, 0, 1).Add(23 * time.Hour), Bot: "demo"},
		storage.FunnelQuery{From: t0.AddDate(-1, 0, 0), To: t0.AddDate(1, 0, 0), Bot: "demo", Site: "demo"})
	for _, sess := range sessions[:min(8, len(sessions))] {
		queries = append(queries, storage.FunnelQuery{From: sess.StartedAt, To: sess.StartedAt.AddDate(0, 0, 3), Bot: sess.Bot},
			storage.FunnelQuery{From: sess.StartedAt.AddDate(0, 0, -3), To: sess.StartedAt.Add(time.Nanosecond), Bot: sess.Bot},
			storage.FunnelQuery{From: sess.StartedAt.Add(time.Nanosecond), To: sess.StartedAt.Add(time.Hour), Bot: sess.Bot})
	}
	return queries
}

// CheckFunnels compares the funnel of each query with the model over
// sessions (the stored records), and has Verify check the engine's
// counters against the records.
func CheckFunnels(t *testing.T, e FunnelEngine, sessions []*storage.Session, queries []storage.FunnelQuery) {
	t.Helper()
	ctx := context.Background()
	compared := 0
	for _, q := range queries {
		got, err := e.Funnel(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want := WantFunnel(sessions, q)
		if got.Opened != want.Opened || got.Converted != want.Converted || !slices.Equal(got.Blocks, want.Blocks) ||
			!slices.Equal(got.Goals, want.Goals) || !slices.Equal(got.Versions, want.Versions) {
			t.Errorf("%v – %v %+v:\n got %+v\nwant %+v", q.From, q.To, q, got, want)
		}
		if want.Opened > 0 {
			compared++
		}
	}
	if compared < len(queries)/2 {
		t.Fatalf("only %d of %d periods have sessions: the model compares little", compared, len(queries))
	}
	rep, err := e.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Errorf("verify: %s", p)
	}
}

// testFunnelWriters: the funnel equals the model after later turns, then
// after erasing every fifth visitor, identify merges and a retention
// sweep.
func testFunnelWriters(t *testing.T, e FunnelEngine) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(15, 1))
	const days = 8
	f := NewFunnelFixture(t, e, r, days)
	for i := range f.Sessions {
		if i%3 == 0 {
			f.LaterTurn(t, r, i)
		}
	}
	f.Check(t, r)

	t.Run("Erased", func(t *testing.T) {
		n := 0
		for _, vid := range slices.Sorted(maps.Keys(f.Visitors)) {
			if n++; n%5 != 0 {
				continue
			}
			if res, err := e.EraseVisitor(ctx, vid); err != nil || res.Sessions == 0 {
				t.Fatalf("erase %s: %+v, %v", vid, res, err)
			}
			delete(f.Visitors, vid)
		}
		f.Check(t, r)
	})
	t.Run("Merged", func(t *testing.T) {
		merges := 0
		users := map[string]string{} // site/user -> visitor
		for _, vid := range slices.Sorted(maps.Keys(f.Visitors)) {
			v := f.Visitors[vid]
			user := fmt.Sprintf("acct%d", r.IntN(6))
			res, err := e.Identify(ctx, storage.IdentifyRequest{Site: v.Site, VisitorID: vid, UserID: user, Channel: "web",
				Profile: storage.ProfileEdit{By: storage.ByIdentify, At: f.T0}})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := users[v.Site+"/"+user]; ok && res.Merged == vid {
				merges++
				delete(f.Visitors, vid)
				continue
			}
			users[v.Site+"/"+user] = res.VisitorID
		}
		if merges == 0 {
			t.Fatal("no merge: nothing compared")
		}
		f.Check(t, r)
	})
	t.Run("Retention", func(t *testing.T) {
		// The visitors of site other last seen before the middle of the
		// span go.
		res, err := e.SweepRetention(ctx, f.T0.AddDate(0, 0, days), storage.Retention{Sites: map[string]time.Duration{"other": days / 2 * 24 * time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Visitors == 0 {
			t.Fatal("the sweep erased nobody: nothing compared")
		}
		f.Check(t, r)
	})
}

// testFunnelConcurrentWriters: sessions starting, reaching blocks and
// goals turn after turn, and being erased, all at once and all in the
// same day and hour (the same counters), leave counters that Verify finds
// equal to the records, and a funnel equal to the model.
func testFunnelConcurrentWriters(t *testing.T, e FunnelEngine) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	const writers, each = 8, 12
	var mu sync.Mutex
	var all []*storage.Session
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				at := t0.Add(time.Duration(w*each+i) * time.Second)
				v := &storage.Visitor{ID: storage.NewID(at), Site: "demo", Channel: "web", CreatedAt: at}
				sess := &storage.Session{ID: storage.NewID(at), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: at}
				st := storage.State{Current: "welcome", Reached: []string{"welcome"}}
				if err := e.StartSession(ctx, v, sess, &storage.Turn{State: &st}); err != nil {
					t.Error(err)
					return
				}
				for j, b := range FunnelBlocks[:i%4] {
					st.Reached = append(slices.Clone(st.Reached), b)
					if j == 1 {
						st.Goals = []string{"lead"}
					}
					snap := st
					next, _, _, err := e.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, Prev: sess, State: &snap, Touch: at.Add(time.Minute)})
					if err != nil {
						t.Error(err)
						return
					}
					sess = next
				}
				mu.Lock()
				all = append(all, sess)
				mu.Unlock()
				if i%3 == 2 {
					if _, err := e.EraseVisitor(ctx, v.ID); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	f := &FunnelFixture{E: e, Sessions: all}
	sessions := f.Stored(t)
	if len(sessions) != writers*each*2/3 {
		t.Fatalf("%d sessions stored, want %d", len(sessions), writers*each*2/3)
	}
	queries := []storage.FunnelQuery{
		{From: t0.Add(-time.Hour), To: t0.Add(time.Hour), Bot: "demo"},
		{From: t0.AddDate(0, 0, -1), To: t0.AddDate(0, 0, 1), Bot: "demo"},
	}
	for i := range 20 {
		from := t0.Add(time.Duration(i*5) * time.Second)
		queries = append(queries, storage.FunnelQuery{From: from, To: from.Add(time.Duration(1+i) * 3 * time.Second), Bot: "demo"})
	}
	CheckFunnels(t, e, sessions, queries)
}
