package storage

import (
	"context"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// fakeLive is a Liveness for tests: a fifth of the fixture's sessions
// have a socket open; site demo keeps idle sessions 45 days (so that a
// year of fixture sessions has open ones), any other site none.
type fakeLive struct{ active map[string]bool }

func newFakeLive(f *fixture, now time.Time) *fakeLive {
	l := &fakeLive{active: map[string]bool{}}
	for i, s := range f.sessions {
		if i%5 == 0 {
			l.active[s.ID] = true
		}
	}
	return l
}

func (l *fakeLive) Active(id string) bool { return l.active[id] }

func (l *fakeLive) ActiveSessions() []string {
	var ids []string
	for id := range l.active {
		ids = append(ids, id)
	}
	return ids
}

func (l *fakeLive) SessionTimeout(site string) time.Duration {
	if site == "demo" {
		return l.MaxSessionTimeout()
	}
	return 0
}

func (l *fakeLive) MaxSessionTimeout() time.Duration { return 45 * 24 * time.Hour }

// wantSessions is the dashboard computed the slow way from the records:
// the suffixes of the matching sessions, newest first.
func (f *fixture) wantSessions(q SessionQuery) []string {
	var want []string
	for _, s := range f.sessions {
		v := f.visitors[s.VisitorID]
		status := SessionStatus(s, q.Live, q.Now)
		ok := inPeriod(s.StartedAt, q.From, q.To) &&
			(q.Bot == "" || s.Bot == q.Bot) && (q.Version == "" || s.Version == q.Version) &&
			(q.Channel == "" || s.Channel == q.Channel) && (q.Site == "" || s.Site == q.Site) &&
			(q.Responses == nil || *q.Responses == s.HasResponses) &&
			(q.Goal == "" || (q.Goal == AnyGoal && len(s.State.Goals) > 0) || slices.Contains(s.State.Goals, q.Goal)) &&
			(q.Tag == "" || slices.Contains(s.State.Tags, q.Tag)) &&
			(q.Block == "" || slices.Contains(s.State.Reached, q.Block)) &&
			(!q.Forms || len(s.Inputs) > 0) && (q.Type == "" || s.Type == q.Type) && (q.Lang == "" || s.Lang == q.Lang) &&
			(q.Sentiment == "" || sentimentLabel(s) == q.Sentiment) && (!q.Unanswered || s.State.UnansweredCount > 0) &&
			(q.Status == "" || q.Status == status || (q.Status == StatusInactive && status != StatusActive)) &&
			(q.Q == "" || v.Matches(q.Q))
		if ok {
			want = append(want, sessionSuffix(s.StartedAt, s.ID))
		}
	}
	slices.Sort(want)
	slices.Reverse(want)
	return want
}

// allSessions pages through the dashboard and returns the sessions'
// suffixes in order, checking each row's visitor.
func allSessions(tb testing.TB, s *Store, q SessionQuery) []string {
	tb.Helper()
	q.Cursor = ""
	var got []string
	for pages := 0; ; pages++ {
		p, err := s.Sessions(context.Background(), q)
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range p.Items {
			got = append(got, sessionSuffix(r.Session.StartedAt, r.Session.ID))
			if r.Visitor.ID != r.Session.VisitorID {
				tb.Fatalf("row visitor %s for session of %s", r.Visitor.ID, r.Session.VisitorID)
			}
		}
		if q.Cursor = p.Next; q.Cursor == "" {
			return got
		}
		if len(p.Items) == 0 || pages > 10000 {
			tb.Fatalf("page %d: empty page with a next cursor", pages)
		}
	}
}

// TestSessions_EveryFilterCombination runs every combination of the
// dashboard's filters (each on or off, an on one with a value drawn from
// the fixture's) against the brute-force model: 13 filters, 8192
// queries, a page of 500 (paging is every other test's business, and
// the combinations of up to three filters page 7 at a time here). Under
// the race detector, those and every 16th other combination.
func TestSessions_EveryFilterCombination(t *testing.T) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, 19, 50, end)
	live := newFakeLive(f, end)
	r := rand.New(rand.NewPCG(19, 3))
	pick := func(vs ...string) string { return vs[r.IntN(len(vs))] }
	yes, no := true, false
	filters := []func(q *SessionQuery){
		func(q *SessionQuery) { q.Bot = pick("demo", "sales") },
		func(q *SessionQuery) { q.Version = pick("1", "2") },
		func(q *SessionQuery) { q.Channel = pick("web", "app") },
		func(q *SessionQuery) { q.Responses = []*bool{&yes, &no}[r.IntN(2)] },
		func(q *SessionQuery) { q.Goal = pick(AnyGoal, "lead") },
		func(q *SessionQuery) { q.Tag = "pricing" },
		func(q *SessionQuery) { q.Block = "ask_name" },
		func(q *SessionQuery) { q.Forms = true },
		func(q *SessionQuery) { q.Type = pick("lead", "support") },
		func(q *SessionQuery) { q.Lang = pick("en", "de", "fr") },
		func(q *SessionQuery) {
			q.Status = pick(StatusActive, StatusOpen, StatusClosed, StatusInactive)
		},
		func(q *SessionQuery) { q.Q = pick("anna", "example", "+49") },
		func(q *SessionQuery) {
			q.From = end.AddDate(0, -1-r.IntN(6), 0)
			q.To = q.From.AddDate(0, 1+r.IntN(3), 0)
		},
	}
	nonEmpty, ran := 0, 0
	for mask := range 1 << len(filters) {
		q := SessionQuery{Live: live, Now: end, Limit: 500}
		if bits.OnesCount(uint(mask)) <= 3 {
			q.Limit = 7
		} else if raceEnabled && mask%16 != 0 {
			continue
		}
		ran++
		for i, set := range filters {
			if mask&(1<<i) != 0 {
				set(&q)
			}
		}
		want := f.wantSessions(q)
		if got := allSessions(t, f.s, q); !slices.Equal(got, want) {
			t.Fatalf("filters %013b (%+v): got %d sessions, want %d", mask, q, len(got), len(want))
		}
		if len(want) > 0 {
			nonEmpty++
		}
	}
	// The model must have been tested on answers, not mostly empty lists.
	if nonEmpty < ran/8 {
		t.Fatalf("only %d of %d combinations had sessions", nonEmpty, ran)
	}
	t.Logf("%d of %d combinations had sessions", nonEmpty, ran)
}

// TestSessions_StatusesPartition: every session is exactly one of active,
// open and closed, and each status filter lists exactly those.
func TestSessions_StatusesPartition(t *testing.T) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, 23, 40, end)
	live := newFakeLive(f, end)
	seen := map[string]string{}
	for _, st := range []string{StatusActive, StatusOpen, StatusClosed} {
		got := allSessions(t, f.s, SessionQuery{Status: st, Live: live, Now: end, Limit: 500})
		if len(got) == 0 {
			t.Errorf("%s: no sessions; the fixture should have some", st)
		}
		for _, sfx := range got {
			if prev, dup := seen[sfx]; dup {
				t.Errorf("session %s is %s and %s", sfx, prev, st)
			}
			seen[sfx] = st
		}
	}
	if len(seen) != len(f.sessions) {
		t.Errorf("statuses list %d sessions, the store has %d", len(seen), len(f.sessions))
	}
	t.Run("BadStatus", func(t *testing.T) {
		_, err := f.s.Sessions(context.Background(), SessionQuery{Status: "zombie", Live: live})
		if fe, ok := err.(*FieldError); !ok || fe.Field != "Status" {
			t.Fatalf("err = %v, want a FieldError on Status", err)
		}
	})
}
