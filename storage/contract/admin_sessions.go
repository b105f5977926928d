package contract

import (
	"context"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// wantSessions is the dashboard computed the slow way from the records:
// the positions of the matching sessions, newest first.
func (f *fixture) wantSessions(q storage.SessionQuery) []string {
	var want []string
	for _, s := range f.sessions {
		v := f.visitors[s.VisitorID]
		status := storage.SessionStatus(s, q.Live, q.Now)
		label := ""
		if s.State.Sentiment != nil {
			label = s.State.Sentiment.Label
		}
		ok := inPeriod(s.StartedAt, q.From, q.To) &&
			(q.Bot == "" || s.Bot == q.Bot) && (q.Version == "" || s.Version == q.Version) &&
			(q.Channel == "" || s.Channel == q.Channel) && (q.Site == "" || s.Site == q.Site) &&
			(q.Responses == nil || *q.Responses == s.HasResponses) &&
			(q.Goal == "" || (q.Goal == storage.AnyGoal && len(s.State.Goals) > 0) || slices.Contains(s.State.Goals, q.Goal)) &&
			(q.Tag == "" || slices.Contains(s.State.Tags, q.Tag)) &&
			(q.Block == "" || slices.Contains(s.State.Reached, q.Block)) &&
			(!q.Forms || len(s.Inputs) > 0) && (q.Type == "" || s.Type == q.Type) && (q.Lang == "" || s.Lang == q.Lang) &&
			(q.Sentiment == "" || label == q.Sentiment) && (!q.Unanswered || s.State.UnansweredCount > 0) &&
			(q.Status == "" || q.Status == status || (q.Status == storage.StatusInactive && status != storage.StatusActive)) &&
			(q.Q == "" || v.Matches(q.Q))
		if ok {
			want = append(want, position(s.StartedAt, s.ID))
		}
	}
	slices.Sort(want)
	slices.Reverse(want)
	return want
}

// allSessions pages through the dashboard and returns the sessions'
// positions in order, checking each row's visitor.
func allSessions(tb testing.TB, s AdminEngine, q storage.SessionQuery) []string {
	tb.Helper()
	q.Cursor = ""
	var got []string
	for pages := 0; ; pages++ {
		p, err := s.Sessions(context.Background(), q)
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range p.Items {
			got = append(got, position(r.Session.StartedAt, r.Session.ID))
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

func testSessionsFilters(t *testing.T, open func(testing.TB) AdminEngine) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, open, 13, 60, end)
	yes, no := true, false
	live := newFakeLive(f)
	queries := []storage.SessionQuery{
		{},
		{Bot: "sales"},
		{Bot: "demo", Version: "2"},
		{Channel: "app", Responses: &yes},
		{Responses: &no},
		{Goal: storage.AnyGoal},
		{Goal: "lead", Tag: "pricing"},
		{Block: "ask_name", Bot: "demo", Channel: "web"},
		{Status: storage.StatusActive},
		{Status: storage.StatusInactive, Goal: "lead"},
		{Status: storage.StatusOpen},
		{Status: storage.StatusClosed, Forms: true},
		{Forms: true, Type: "lead", Lang: "en"},
		{From: end.AddDate(0, -4, 0), To: end.AddDate(0, -1, 0), Tag: "pricing"},
		{Q: "anna"},
		{Q: "example", Bot: "sales", Status: storage.StatusInactive},
		{Q: "example", Status: storage.StatusOpen, Lang: "de"},
	}
	for i, q := range queries {
		q.Live, q.Now = live, end
		t.Run(fmt.Sprintf("q%d", i), func(t *testing.T) {
			want := f.wantSessions(q)
			for _, limit := range []int{1, 4, 500} {
				q.Limit = limit
				if got := allSessions(t, f.s, q); !slices.Equal(got, want) {
					t.Errorf("limit %d: got %d sessions, want %d", limit, len(got), len(want))
				}
			}
		})
	}
}

// testSessionsEveryFilterCombination runs every combination of the
// dashboard's filters (each on or off, an on one with a value drawn from
// the fixture's) against the brute-force model: 13 filters, 8192
// queries, a page of 500 (paging is every other test's business, and
// the combinations of up to three filters page 7 at a time here). Under
// the race detector, those and every 16th other combination.
func testSessionsEveryFilterCombination(t *testing.T, open func(testing.TB) AdminEngine) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, open, 19, 50, end)
	live := newFakeLive(f)
	r := rand.New(rand.NewPCG(19, 3))
	pick := func(vs ...string) string { return vs[r.IntN(len(vs))] }
	yes, no := true, false
	filters := []func(q *storage.SessionQuery){
		func(q *storage.SessionQuery) { q.Bot = pick("demo", "sales") },
		func(q *storage.SessionQuery) { q.Version = pick("1", "2") },
		func(q *storage.SessionQuery) { q.Channel = pick("web", "app") },
		func(q *storage.SessionQuery) { q.Responses = []*bool{&yes, &no}[r.IntN(2)] },
		func(q *storage.SessionQuery) { q.Goal = pick(storage.AnyGoal, "lead") },
		func(q *storage.SessionQuery) { q.Tag = "pricing" },
		func(q *storage.SessionQuery) { q.Block = "ask_name" },
		func(q *storage.SessionQuery) { q.Forms = true },
		func(q *storage.SessionQuery) { q.Type = pick("lead", "support") },
		func(q *storage.SessionQuery) { q.Lang = pick("en", "de", "fr") },
		func(q *storage.SessionQuery) {
			q.Status = pick(storage.StatusActive, storage.StatusOpen, storage.StatusClosed, storage.StatusInactive)
		},
		func(q *storage.SessionQuery) { q.Q = pick("anna", "example", "+49") },
		func(q *storage.SessionQuery) {
			q.From = end.AddDate(0, -1-r.IntN(6), 0)
			q.To = q.From.AddDate(0, 1+r.IntN(3), 0)
		},
	}
	nonEmpty, ran := 0, 0
	for mask := range 1 << len(filters) {
		q := storage.SessionQuery{Live: live, Now: end, Limit: 500}
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

// testSessionsFilterCombinations runs combinations of the dashboard's
// filters with the sentiment and unanswered ones (which
// EveryFilterCombination leaves out) against the slow answer, paging by 7
// and by 500: every combination of up to three filters (sentiment with
// each label), and 150 random larger ones.
func testSessionsFilterCombinations(t *testing.T, open func(testing.TB) AdminEngine) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, open, 21, 70, end)
	live := newFakeLive(f)
	yes := true
	labels := []string{storage.SentimentPositive, storage.SentimentNeutral, storage.SentimentNegative, storage.SentimentUnknown}
	filters := []struct {
		name string
		set  func(q *storage.SessionQuery, variant int)
	}{
		{"period", func(q *storage.SessionQuery, _ int) { q.From, q.To = end.AddDate(0, -8, 0), end.AddDate(0, -1, 0) }},
		{"site", func(q *storage.SessionQuery, _ int) { q.Site = "demo" }},
		{"bot", func(q *storage.SessionQuery, _ int) { q.Bot = "demo" }},
		{"version", func(q *storage.SessionQuery, _ int) { q.Version = "2" }},
		{"channel", func(q *storage.SessionQuery, _ int) { q.Channel = "web" }},
		{"responses", func(q *storage.SessionQuery, _ int) { q.Responses = &yes }},
		{"goal", func(q *storage.SessionQuery, _ int) { q.Goal = storage.AnyGoal }},
		{"tag", func(q *storage.SessionQuery, _ int) { q.Tag = "pricing" }},
		{"block", func(q *storage.SessionQuery, _ int) { q.Block = "ask_name" }},
		{"sentiment", func(q *storage.SessionQuery, v int) { q.Sentiment = labels[v%len(labels)] }},
		{"unanswered", func(q *storage.SessionQuery, _ int) { q.Unanswered = true }},
		{"status", func(q *storage.SessionQuery, _ int) { q.Status = storage.StatusInactive }},
		{"q", func(q *storage.SessionQuery, _ int) { q.Q = "x@example" }},
	}
	var masks []int
	for mask := range 1 << len(filters) {
		if bits.OnesCount(uint(mask)) <= 3 {
			for v := range len(labels) {
				if mask&(1<<9) != 0 || v == 0 { // each label where sentiment is on
					masks = append(masks, mask|v<<len(filters))
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(21, 2))
	for range 150 {
		masks = append(masks, r.IntN(1<<len(filters))|r.IntN(len(labels))<<len(filters))
	}
	nonEmpty := 0
	for _, mask := range masks {
		q := storage.SessionQuery{Live: live, Now: end}
		var names []string
		for i, fl := range filters {
			if mask&(1<<i) != 0 {
				fl.set(&q, mask>>len(filters))
				names = append(names, fl.name)
			}
		}
		want := f.wantSessions(q)
		if len(want) > 0 {
			nonEmpty++
		}
		for _, limit := range []int{7, 500} {
			q.Limit = limit
			if got := allSessions(t, f.s, q); !slices.Equal(got, want) {
				t.Errorf("%s (sentiment %q) limit %d: got %d sessions, want %d", strings.Join(names, "+"), q.Sentiment, limit, len(got), len(want))
			}
		}
	}
	if nonEmpty < len(masks)/2 {
		t.Errorf("only %d of %d combinations select any session: the fixture tests too little", nonEmpty, len(masks))
	}
}

// testSessionsStatusesPartition: every session is exactly one of active,
// open and closed, and each status filter lists exactly those.
func testSessionsStatusesPartition(t *testing.T, open func(testing.TB) AdminEngine) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, open, 23, 40, end)
	live := newFakeLive(f)
	seen := map[string]string{}
	for _, st := range []string{storage.StatusActive, storage.StatusOpen, storage.StatusClosed} {
		got := allSessions(t, f.s, storage.SessionQuery{Status: st, Live: live, Now: end, Limit: 500})
		if len(got) == 0 {
			t.Errorf("%s: no sessions; the fixture should have some", st)
		}
		for _, p := range got {
			if prev, dup := seen[p]; dup {
				t.Errorf("session %s is %s and %s", p, prev, st)
			}
			seen[p] = st
		}
	}
	if len(seen) != len(f.sessions) {
		t.Errorf("statuses list %d sessions, the store has %d", len(seen), len(f.sessions))
	}
	// With no session active, closed is every session not open.
	none := &fakeLive{active: map[string]bool{}}
	open1 := allSessions(t, f.s, storage.SessionQuery{Status: storage.StatusOpen, Live: none, Now: end, Limit: 500})
	closed := allSessions(t, f.s, storage.SessionQuery{Status: storage.StatusClosed, Live: none, Now: end, Limit: 500})
	if len(open1)+len(closed) != len(f.sessions) {
		t.Errorf("no active session: %d open and %d closed of %d", len(open1), len(closed), len(f.sessions))
	}
}

func testSessionsBadParams(t *testing.T, open func(testing.TB) AdminEngine) {
	s := open(t)
	ctx := context.Background()
	live := &fakeLive{active: map[string]bool{}}
	for _, tt := range []struct {
		name  string
		q     storage.SessionQuery
		field string
	}{
		{"Status", storage.SessionQuery{Status: "zombie", Live: live}, "Status"},
		{"NoLive", storage.SessionQuery{Status: storage.StatusActive}, "Status"},
		{"Sentiment", storage.SessionQuery{Sentiment: "angry"}, "Sentiment"},
		{"Limit", storage.SessionQuery{Limit: 501}, "Limit"},
		{"FromAfterTo", storage.SessionQuery{From: t0, To: t0.Add(-time.Second)}, "From"},
		{"Cursor", storage.SessionQuery{Cursor: "AAAA"}, "Cursor"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Sessions(ctx, tt.q)
			wantFieldError(t, err, tt.field)
		})
	}
	t.Run("Empty", func(t *testing.T) {
		p, err := s.Sessions(ctx, storage.SessionQuery{Status: storage.StatusClosed, Live: live, Q: "anna"})
		if err != nil || len(p.Items) != 0 || p.Next != "" {
			t.Fatalf("an empty store: %+v, %v", p, err)
		}
	})
}
