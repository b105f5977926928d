package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/storagetest"
)

// funnelStore is a store on disk (so it can crash) of two sites'
// sessions, many a day over a few days, whose sessions reach blocks and
// goals at their start, in a turn after it and on later days.
type funnelStore struct {
	s        *storage.Store
	dir      string
	t0       time.Time
	days     int
	visitors map[string]*storage.Visitor
	sessions []*storage.Session // as last returned by the store
}

var funnelBlocks = []string{"menu", "ask name", "ask/email", "phone", "bye"}

func newFunnelStore(t *testing.T, r *rand.Rand, days int) *funnelStore {
	t.Helper()
	f := &funnelStore{dir: t.TempDir(), t0: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), days: days,
		visitors: map[string]*storage.Visitor{}}
	f.open(t)
	ctx := context.Background()
	for range 120 {
		start := f.t0.Add(time.Duration(r.Int64N(int64(days) * int64(24*time.Hour))))
		v := &storage.Visitor{ID: storage.NewID(start), Site: []string{"demo", "demo", "other"}[r.IntN(3)], Channel: "web", CreatedAt: start}
		for range 1 + r.IntN(3) {
			sess := &storage.Session{ID: storage.NewID(start), Site: v.Site, VisitorID: v.ID, Bot: []string{"demo", "demo", "sales"}[r.IntN(3)],
				Version: []string{"1", "2"}[r.IntN(2)], Channel: "web", StartedAt: start}
			opening := storage.State{Current: "welcome", Reached: []string{"welcome"}}
			if err := f.s.StartSession(ctx, v, sess, &storage.Turn{State: &opening}); err != nil {
				t.Fatal(err)
			}
			st := opening
			st.Reached = append(slices.Clone(st.Reached), funnelBlocks[:r.IntN(len(funnelBlocks)+1)]...)
			if r.IntN(3) == 0 {
				st.Goals = []string{"lead"}
			}
			next, _, _, err := f.s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, Prev: sess, State: &st, Touch: start.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			f.sessions = append(f.sessions, next)
			start = start.Add(time.Duration(r.IntN(36*60)) * time.Minute)
		}
		f.visitors[v.ID] = v
	}
	return f
}

func (f *funnelStore) open(t *testing.T) {
	t.Helper()
	s, err := storage.Open(f.dir, storage.Options{IndexDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
}

// laterTurn records, a day or more after session i's start, a turn that
// reaches another block and, sometimes, another goal.
func (f *funnelStore) laterTurn(t *testing.T, r *rand.Rand, i int) {
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
	next, _, _, err := f.s.RecordTurn(context.Background(), &storage.Turn{SessionID: sess.ID, Prev: sess, State: &st, Touch: at})
	if err != nil {
		t.Fatal(err)
	}
	f.sessions[i] = next
}

// stored returns the session records the store holds: what the model
// counts.
func stored(tb testing.TB, s *storage.Store) []*storage.Session {
	tb.Helper()
	var out []*storage.Session
	for k, v := range storagetest.Dump(tb, s, "s/") {
		var sess storage.Session
		if err := json.Unmarshal(v, &sess); err != nil {
			tb.Fatalf("%s: %v", k, err)
		}
		out = append(out, &sess)
	}
	return out
}

// checkFunnels compares the funnel with the model over the stored records
// for periods that start and end anywhere in a day, within one day and
// across many, of every story, version and site (compareFunnels).
func checkFunnels(t *testing.T, s *storage.Store, r *rand.Rand, t0 time.Time, days int) {
	t.Helper()
	sessions := stored(t, s)
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
	// Whole days, a day cut at its start or end only, an hour cut, the
	// whole span; and from and to at sessions' own starts.
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
			storage.FunnelQuery{From: sess.StartedAt.AddDate(0, 0, -3), To: sess.StartedAt.Add(time.Nanosecond), Bot: sess.Bot})
	}
	compareFunnels(t, s, sessions, queries)
}

// compareFunnels compares the funnel of each query with the model over
// sessions (the stored records), and has Verify check the counters
// against the records.
func compareFunnels(t *testing.T, s *storage.Store, sessions []*storage.Session, queries []storage.FunnelQuery) {
	t.Helper()
	ctx := context.Background()
	compared := 0
	for _, q := range queries {
		got, err := s.Funnel(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want := contract.WantFunnel(sessions, q)
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
	rep, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Errorf("verify: %s", p)
	}
}

// TestFunnel_CountersMatchBruteForce: with the per-day and per-hour
// counters, the funnel over periods that start and end mid-day equals
// the counts over the records through everything that changes them:
// blocks and goals reached in a later turn and days after the session's
// start, erased visitors, identify merges, a retention sweep, and a crash
// between turns and their fold.
func TestFunnel_CountersMatchBruteForce(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(15, 1))
	const days = 8
	f := newFunnelStore(t, r, days)
	for i := range f.sessions {
		if i%3 == 0 {
			f.laterTurn(t, r, i)
		}
	}
	checkFunnels(t, f.s, r, f.t0, days)

	t.Run("Erased", func(t *testing.T) {
		n := 0
		for _, vid := range slices.Sorted(mapsKeys(f.visitors)) {
			if n++; n%5 != 0 {
				continue
			}
			if res, err := f.s.EraseVisitor(ctx, vid); err != nil || res.Sessions == 0 {
				t.Fatalf("erase %s: %+v, %v", vid, res, err)
			}
			delete(f.visitors, vid)
		}
		checkFunnels(t, f.s, r, f.t0, days)
	})
	t.Run("Merged", func(t *testing.T) {
		merges := 0
		users := map[string]string{} // site/user -> visitor
		for _, vid := range slices.Sorted(mapsKeys(f.visitors)) {
			v := f.visitors[vid]
			user := fmt.Sprintf("acct%d", r.IntN(6))
			res, err := f.s.Identify(ctx, storage.IdentifyRequest{Site: v.Site, VisitorID: vid, UserID: user, Channel: "web",
				Profile: storage.ProfileEdit{By: storage.ByIdentify, At: f.t0}})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := users[v.Site+"/"+user]; ok && res.Merged == vid {
				merges++
				delete(f.visitors, vid)
				continue
			}
			users[v.Site+"/"+user] = res.VisitorID
		}
		if merges == 0 {
			t.Fatal("no merge: nothing compared")
		}
		checkFunnels(t, f.s, r, f.t0, days)
	})
	t.Run("Retention", func(t *testing.T) {
		// The visitors of site other last seen before the middle of the
		// span go.
		res, err := f.s.SweepRetention(ctx, f.t0.AddDate(0, 0, days), storage.Retention{Sites: map[string]time.Duration{"other": days / 2 * 24 * time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Visitors == 0 {
			t.Fatal("the sweep erased nobody: nothing compared")
		}
		for vid := range f.visitors {
			if _, err := f.s.Visitor(ctx, vid); errors.Is(err, storage.ErrNotFound) {
				delete(f.visitors, vid)
			} else if err != nil {
				t.Fatal(err)
			}
		}
		checkFunnels(t, f.s, r, f.t0, days)
	})
	t.Run("CrashBeforeTheFold", func(t *testing.T) {
		for i, sess := range f.sessions {
			if _, ok := f.visitors[sess.VisitorID]; ok && i%4 == 1 {
				f.laterTurn(t, r, i)
			}
		}
		if f.s.PendingDeltas() == 0 {
			t.Fatal("no turn waits for its fold: the crash loses nothing")
		}
		storage.DieWithoutFolding(t, f.s)
		f.open(t)
		checkFunnels(t, f.s, r, f.t0, days)
	})
	f.s.Close()
}

// TestFunnel_BuildCounters: a store written before the counters gets them
// from BuildIndexes, once (meta/funnel), and its funnel stays exact.
func TestFunnel_BuildCounters(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(16, 1))
	f := newFunnelStore(t, r, 4)
	defer f.s.Close()
	if _, err := f.s.BuildIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	// What a store of a Parley before the counters holds: none, no marker.
	if err := f.s.DB().DropPrefix([]byte("uf/"), []byte("uh/"), []byte("meta/funnel")); err != nil {
		t.Fatal(err)
	}
	if n := storagetest.CountKeys(t, f.s, "uf/", "uh/"); len(n) != 0 {
		t.Fatalf("counters left: %v", n)
	}
	if _, err := f.s.BuildIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if n := storagetest.CountKeys(t, f.s, "uf/", "uh/"); n["uf/"] == 0 || n["uh/"] == 0 {
		t.Fatalf("BuildIndexes wrote the counters %v", n)
	}
	if n, err := f.s.BuildFunnelCounts(ctx); err != nil || n != 0 {
		t.Errorf("second build: %d sessions counted, %v; want nothing to do", n, err)
	}
	checkFunnels(t, f.s, r, f.t0, 4)
}

// TestFunnel_CountersUnderConcurrentWriters: sessions starting, reaching
// blocks and goals turn after turn, and being erased, all at once and all
// in the same day and hour (the same counters), leave counters that
// Verify finds equal to the records, and a funnel equal to the model.
func TestFunnel_CountersUnderConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s, err := storage.Open(t.TempDir(), storage.Options{IndexDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	const writers, each = 8, 12
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				at := t0.Add(time.Duration(w*each+i) * time.Second)
				v := &storage.Visitor{ID: storage.NewID(at), Site: "demo", Channel: "web", CreatedAt: at}
				sess := &storage.Session{ID: storage.NewID(at), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: at}
				st := storage.State{Current: "welcome", Reached: []string{"welcome"}}
				if err := s.StartSession(ctx, v, sess, &storage.Turn{State: &st}); err != nil {
					t.Error(err)
					return
				}
				for j, b := range funnelBlocks[:i%4] {
					st.Reached = append(slices.Clone(st.Reached), b)
					if j == 1 {
						st.Goals = []string{"lead"}
					}
					snap := st
					next, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, Prev: sess, State: &snap, Touch: at.Add(time.Minute)})
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
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	sessions := stored(t, s)
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
	compareFunnels(t, s, sessions, queries)
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
