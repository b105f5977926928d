package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// funnelFixture is a store on disk (so it can crash) of two sites'
// sessions, many a day over a few days, whose sessions reach blocks and
// goals at their start and on later days.
func funnelFixture(t *testing.T, r *rand.Rand, dir string, days int, t0 time.Time) *fixture {
	t.Helper()
	s, err := Open(dir, Options{IndexDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{s: s, visitors: map[string]*Visitor{}}
	blocks := []string{"menu", "ask name", "ask/email", "phone", "bye"}
	for i := range 120 {
		start := t0.Add(time.Duration(r.Int64N(int64(days) * int64(24*time.Hour))))
		v := newVisitor(NewID(start.Add(time.Duration(i))), start)
		v.Site = []string{"demo", "demo", "other"}[r.IntN(3)]
		for range 1 + r.IntN(3) {
			sp := sessionSpec{start: start, bot: []string{"demo", "demo", "sales"}[r.IntN(3)], version: []string{"1", "2"}[r.IntN(2)]}
			if r.IntN(3) == 0 {
				sp.goals = []string{"lead"}
			}
			sp.reached = blocks[:r.IntN(len(blocks)+1)]
			f.sessions = append(f.sessions, buildSession(t, s, v, sp))
			start = start.Add(time.Duration(r.IntN(36*60)) * time.Minute)
		}
		f.visitors[v.ID] = v
	}
	return f
}

// laterTurn records, a day or more after the session's start, a turn
// that reaches another block and, sometimes, another goal.
func (f *fixture) laterTurn(t *testing.T, r *rand.Rand, i int) {
	t.Helper()
	sess := f.sessions[i]
	st := sess.State
	// A story records a block or goal once, when first reached.
	if b := fmt.Sprintf("later %d", r.IntN(3)); !slices.Contains(st.Reached, b) {
		st.Reached = append(slices.Clone(st.Reached), b)
	}
	if r.IntN(2) == 0 && !slices.Contains(st.Goals, "call") {
		st.Goals = append(slices.Clone(st.Goals), "call")
	}
	at := sess.StartedAt.Add(time.Duration(24+r.IntN(72)) * time.Hour)
	next, _, _, err := f.s.RecordTurn(context.Background(), &Turn{SessionID: sess.ID, State: &st, Touch: at})
	if err != nil {
		t.Fatal(err)
	}
	f.sessions[i] = next
}

// checkFunnels compares the funnel with the model over periods that start
// and end anywhere in a day, within one day and across many, of every
// story, version and site.
func (f *fixture) checkFunnels(t *testing.T, r *rand.Rand, t0 time.Time, days int) {
	t.Helper()
	ctx := context.Background()
	span := int64(days+2) * int64(24*time.Hour)
	var queries []FunnelQuery
	for range 60 {
		from := t0.Add(time.Duration(r.Int64N(span)) - 24*time.Hour)
		to := from.Add(time.Duration(1 + r.Int64N(span/2)))
		if r.IntN(4) == 0 {
			to = from.Add(time.Duration(1 + r.Int64N(int64(24*time.Hour)))) // within a day or two
		}
		q := FunnelQuery{From: from, To: to, Bot: []string{"demo", "sales"}[r.IntN(2)]}
		if r.IntN(3) == 0 {
			q.Version = "2"
		}
		if r.IntN(3) == 0 {
			q.Site = []string{"demo", "other"}[r.IntN(2)]
		}
		queries = append(queries, q)
	}
	// Whole days, a day cut at its start or end only, the whole span.
	queries = append(queries,
		FunnelQuery{From: t0, To: t0.AddDate(0, 0, days), Bot: "demo"},
		FunnelQuery{From: t0.Add(time.Hour), To: t0.AddDate(0, 0, 2), Bot: "demo"},
		FunnelQuery{From: t0.Add(23 * time.Hour), To: t0.AddDate(0, 0, 2), Bot: "demo"},
		FunnelQuery{From: t0, To: t0.AddDate(0, 0, 2).Add(time.Hour), Bot: "demo"},
		FunnelQuery{From: t0, To: t0.AddDate(0, 0, 2).Add(23 * time.Hour), Bot: "demo"},
		FunnelQuery{From: t0.AddDate(0, 0, 1).Add(time.Hour), To: t0.AddDate(0, 0, 1).Add(23 * time.Hour), Bot: "demo"},
		FunnelQuery{From: t0.AddDate(-1, 0, 0), To: t0.AddDate(1, 0, 0), Bot: "demo", Site: "demo"})
	compared := 0
	for _, q := range queries {
		got, err := f.s.Funnel(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want := f.wantFunnel(q)
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
}

// TestFunnel_CountersMatchBruteForce: with the per-day counters, the funnel
// over periods that start and end mid-day equals the counts over the
// records through everything that changes them: blocks and goals reached
// days after the session's start, erased visitors, identify merges, a
// retention sweep, and a crash between turns and their fold.
func TestFunnel_CountersMatchBruteForce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(15, 1))
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const days = 8
	f := funnelFixture(t, r, dir, days, t0)
	for i := range f.sessions {
		if i%3 == 0 {
			f.laterTurn(t, r, i)
		}
	}
	f.checkFunnels(t, r, t0, days)

	t.Run("Erased", func(t *testing.T) {
		n := 0
		for _, vid := range slices.Sorted(mapsKeysOf(f.visitors)) {
			if n++; n%5 != 0 {
				continue
			}
			if _, err := f.s.EraseVisitor(ctx, vid); err != nil {
				t.Fatal(err)
			}
			delete(f.visitors, vid)
			f.sessions = slices.DeleteFunc(f.sessions, func(s *Session) bool { return s.VisitorID == vid })
		}
		f.checkFunnels(t, r, t0, days)
	})
	t.Run("Merged", func(t *testing.T) {
		merges := 0
		users := map[string]string{} // site/user -> visitor
		for _, vid := range slices.Sorted(mapsKeysOf(f.visitors)) {
			v := f.visitors[vid]
			user := fmt.Sprintf("acct%d", r.IntN(6))
			res, err := f.s.Identify(ctx, IdentifyRequest{Site: v.Site, VisitorID: vid, UserID: user, Channel: "web",
				Profile: ProfileEdit{By: ByIdentify, At: t0}})
			if err != nil {
				t.Fatal(err)
			}
			if owner, ok := users[v.Site+"/"+user]; ok && res.Merged == vid {
				merges++
				for _, s := range f.sessions {
					if s.VisitorID == vid {
						s.VisitorID = owner
					}
				}
				delete(f.visitors, vid)
				continue
			}
			users[v.Site+"/"+user] = res.VisitorID
		}
		if merges == 0 {
			t.Fatal("no merge: nothing compared")
		}
		f.checkFunnels(t, r, t0, days)
	})
	t.Run("Retention", func(t *testing.T) {
		// The visitors of site other last seen before the middle of the
		// span go; the sweep decides which, the model asks after.
		res, err := f.s.SweepRetention(ctx, t0.AddDate(0, 0, days), Retention{Sites: map[string]time.Duration{"other": days / 2 * 24 * time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Visitors == 0 {
			t.Fatal("the sweep erased nobody: nothing compared")
		}
		for vid := range f.visitors {
			if _, err := f.s.Visitor(ctx, vid); errors.Is(err, ErrNotFound) {
				delete(f.visitors, vid)
				f.sessions = slices.DeleteFunc(f.sessions, func(s *Session) bool { return s.VisitorID == vid })
			} else if err != nil {
				t.Fatal(err)
			}
		}
		f.checkFunnels(t, r, t0, days)
	})
	t.Run("CrashBeforeTheFold", func(t *testing.T) {
		for i := range f.sessions {
			if i%4 == 1 {
				f.laterTurn(t, r, i)
			}
		}
		if countKeys(t, f.s, "d/") == 0 {
			t.Fatal("no turn waits for its fold: the crash loses nothing")
		}
		dieWithoutFolding(t, f.s)
		s, err := Open(dir, Options{IndexDelay: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		f.s = s
		f.checkFunnels(t, r, t0, days)
	})
	defer f.s.Close()
	r2, err := f.s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r2.Problems {
		t.Errorf("verify: %s", p)
	}
}

// TestFunnel_BuildCounters: a store written before the counters gets them
// from BuildIndexes, once (meta/funnel), and its funnel stays exact.
func TestFunnel_BuildCounters(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(16, 1))
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f := funnelFixture(t, r, t.TempDir(), 4, t0)
	defer f.s.Close()
	if _, err := f.s.BuildIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	// What a store of a Parley before the counters holds: none, no marker.
	if err := f.s.db.DropPrefix([]byte("uf/"), []byte("uh/"), funnelBuilt); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, f.s, "uf/") + countKeys(t, f.s, "uh/"); n != 0 {
		t.Fatalf("%d counters left", n)
	}
	if _, err := f.s.BuildIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if countKeys(t, f.s, "uf/") == 0 || countKeys(t, f.s, "uh/") == 0 {
		t.Fatal("BuildIndexes wrote no counters")
	}
	if n, err := f.s.buildFunnelCounts(ctx); err != nil || n != 0 {
		t.Errorf("second build: %d sessions counted, %v; want nothing to do", n, err)
	}
	r2, err := f.s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r2.Problems {
		t.Errorf("verify: %s", p)
	}
	f.checkFunnels(t, r, t0, 4)
}

// TestFunnel_CountsEncoding: a cell's counts survive their encoding,
// negative ones included, and a cut value is an error.
func TestFunnel_CountsEncoding(t *testing.T) {
	m := map[string]int64{"all": 3, "blk=a%2Fb": -2, "goal": 0, "goal=lead": 1 << 40}
	b := encodeFunnelCounts(m)
	got := map[string]int64{}
	if err := decodeFunnelCounts(b, got); err != nil {
		t.Fatal(err)
	}
	delete(m, "goal") // zeros are left out
	if fmt.Sprint(got) != fmt.Sprint(m) {
		t.Errorf("got %v, want %v", got, m)
	}
	if err := decodeFunnelCounts(b[:len(b)-1], map[string]int64{}); err == nil {
		t.Error("a cut value decoded")
	}
}

func mapsKeysOf[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestFunnel_CountersUnderConcurrentWriters: sessions starting, reaching
// blocks and goals turn after turn, and being erased, all at once and all
// in the same day and hour (the same counters), leave counters that
// Verify finds equal to the records, and a funnel equal to the model.
func TestFunnel_CountersUnderConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{IndexDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	const writers, each = 8, 12
	var mu sync.Mutex
	var kept []*Session
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				at := t0.Add(time.Duration(w*each+i) * time.Second)
				v := &Visitor{ID: NewID(at), Site: "demo", Channel: "web", CreatedAt: at}
				sess := &Session{ID: NewID(at), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: at}
				st := State{Current: "welcome", Reached: []string{"welcome"}}
				if err := s.StartSession(ctx, v, sess, &Turn{State: &st}); err != nil {
					t.Error(err)
					return
				}
				for j, b := range []string{"menu", "ask name", "bye"}[:i%4] {
					st.Reached = append(slices.Clone(st.Reached), b)
					if j == 1 {
						st.Goals = []string{"lead"}
					}
					snap := st
					next, _, _, err := s.RecordTurn(ctx, &Turn{SessionID: sess.ID, Prev: sess, State: &snap, Touch: at.Add(time.Minute)})
					if err != nil {
						t.Error(err)
						return
					}
					sess = next
				}
				if i%3 == 2 {
					if _, err := s.EraseVisitor(ctx, v.ID); err != nil {
						t.Error(err)
					}
					continue
				}
				mu.Lock()
				kept = append(kept, sess)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	r, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Problems {
		t.Errorf("verify: %s", p)
	}
	f := &fixture{s: s, sessions: kept}
	for _, q := range []FunnelQuery{
		{From: t0.Add(-time.Hour), To: t0.Add(time.Hour), Bot: "demo"},
		{From: t0.Add(30 * time.Second), To: t0.Add(70 * time.Second), Bot: "demo"},
		{From: t0.AddDate(0, 0, -1), To: t0.AddDate(0, 0, 1), Bot: "demo"},
	} {
		got, err := s.Funnel(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if want := f.wantFunnel(q); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%v – %v:\n got %+v\nwant %+v", q.From, q.To, got, want)
		}
	}
}

// TestBulk_FunnelCountersOfManyHours: a bulk load whose sessions fill more
// hours' counters than one transaction holds closes, and its counters are
// the sessions'.
func TestBulk_FunnelCountersOfManyHours(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{memTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bulk := s.NewBulk()
	for i := range 3000 {
		at := t0.Add(time.Duration(i) * time.Hour)
		v := &Visitor{ID: NewID(at), Site: "demo", Channel: "web", CreatedAt: at}
		sess := &Session{ID: NewID(at), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: at,
			State: State{Current: "welcome", Reached: []string{"welcome", fmt.Sprintf("block %d", i%7)}}}
		if err := bulk.Add(v, []BulkSession{{Session: sess}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := bulk.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Problems {
		t.Errorf("verify: %s", p)
	}
	if r.Sessions != 3000 {
		t.Errorf("%d sessions, want 3000", r.Sessions)
	}
}
