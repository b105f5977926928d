package contract

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// wantGaps is the Knowledge gaps report computed the slow way from the
// session records (WantGaps).
func (f *fixture) wantGaps(q storage.GapQuery) *storage.GapReport { return WantGaps(f.sessions, q) }

// WantGaps is the Knowledge gaps report of sessions (the records as
// stored) computed the slow way: the texts of the period read newest
// first (then by session and place in it, both last first), at most
// MaxScan of any site and bot, grouped by storage.NormalizeGap.
func WantGaps(sessions []*storage.Session, q storage.GapQuery) *storage.GapReport {
	type entry struct {
		at        time.Time
		sid       string
		n         int
		site, bot string
		text      string
	}
	var all []entry
	for _, s := range sessions {
		for i, g := range s.Gaps {
			if inPeriod(g.At, q.From, q.To) {
				all = append(all, entry{g.At, s.ID, i, s.Site, s.Bot, g.Text})
			}
		}
	}
	slices.SortFunc(all, func(a, b entry) int {
		return cmp.Or(b.at.Compare(a.at), strings.Compare(b.sid, a.sid), cmp.Compare(b.n, a.n))
	})
	rep := &storage.GapReport{}
	maxScan := cmp.Or(q.MaxScan, storage.DefaultGapScan)
	if maxScan > 0 && len(all) > maxScan {
		all, rep.Truncated = all[:maxScan], true
		rep.Since = all[maxScan-1].at
	}
	groups := map[string]*storage.GapRow{}
	for _, e := range all {
		if (q.Site != "" && e.site != q.Site) || (q.Bot != "" && e.bot != q.Bot) {
			continue
		}
		rep.Texts++
		k := storage.NormalizeGap(e.text)
		g := groups[k]
		if g == nil {
			g = &storage.GapRow{Key: k, Text: e.text, LastAt: e.at}
			groups[k] = g
		}
		g.Count++
		g.FirstAt = e.at
		if !slices.Contains(g.SessionIDs, e.sid) {
			g.SessionIDs = append(g.SessionIDs, e.sid)
		}
	}
	const maxGapSessions = 10 // the sessions a row links to
	for _, g := range groups {
		g.Sessions = len(g.SessionIDs)
		g.SessionIDs = g.SessionIDs[:min(len(g.SessionIDs), maxGapSessions)]
		rep.Items = append(rep.Items, *g)
	}
	rep.Groups = len(groups)
	slices.SortFunc(rep.Items, func(a, b storage.GapRow) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), b.LastAt.Compare(a.LastAt), strings.Compare(a.Key, b.Key))
	})
	rep.Items = rep.Items[:min(cmp.Or(q.Limit, storage.DefaultLimit), len(rep.Items))]
	if rep.Items == nil {
		rep.Items = []storage.GapRow{}
	}
	return rep
}

// testGapsMatchesBruteForce checks the Knowledge gaps report against the
// slow model over a generated store: grouping, counts, first and last
// seen, the sessions linked, the order, the filters and the scan bound.
func testGapsMatchesBruteForce(t *testing.T, open func(testing.TB) AdminEngine) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, open, 5, 120, end)
	total := 0
	for _, s := range f.sessions {
		total += len(s.Gaps)
	}
	if total < 40 {
		t.Fatalf("the fixture has %d unanswered texts: too few to test", total)
	}
	queries := []storage.GapQuery{
		{},
		{Limit: 2},
		{From: end.AddDate(0, -6, 0)},
		{From: end.AddDate(0, -9, 0), To: end.AddDate(0, -2, 0), Limit: 500},
		{Bot: "sales"},
		{Site: "demo", Bot: "demo"},
		{Site: "other"},
		{MaxScan: 10},
		{MaxScan: 10, Bot: "sales"},
		{MaxScan: -1},
		{From: end, To: end},
	}
	for i, q := range queries {
		t.Run(fmt.Sprintf("q%d", i), func(t *testing.T) {
			got, err := f.s.Gaps(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if got.Items == nil {
				got.Items = []storage.GapRow{}
			}
			if want := f.wantGaps(q); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
	t.Run("Grouped", func(t *testing.T) {
		rep, err := f.s.Gaps(context.Background(), storage.GapQuery{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		keys := map[string]bool{}
		for _, r := range rep.Items {
			keys[r.Key] = true
		}
		// "Pricing?", "pricing" and "PRICING!!" are one question.
		if !keys["pricing"] || keys["pricing?"] || keys["PRICING!!"] {
			t.Errorf("groups %v: want one pricing row", keys)
		}
	})
	t.Run("BadParams", func(t *testing.T) {
		_, err := f.s.Gaps(context.Background(), storage.GapQuery{From: end, To: end.AddDate(0, -1, 0)})
		wantFieldError(t, err, "From")
		_, err = f.s.Gaps(context.Background(), storage.GapQuery{Limit: 501})
		wantFieldError(t, err, "Limit")
	})
}

// testVisitorLastSentiment checks the visitor's rollup the overview shows:
// the last expression's sentiment of whichever of its sessions spoke last.
func testVisitorLastSentiment(t *testing.T, open func(testing.TB) AdminEngine) {
	f := randomFixture(t, open, 9, 60, time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC))
	checked := 0
	for id, v := range f.visitors {
		var want *storage.Sentiment
		for _, s := range f.sessions {
			if s.VisitorID != id || s.State.Sentiment == nil {
				continue
			}
			if last := s.State.Sentiment.Last; want == nil || last.At.After(want.At) {
				want = &last
			}
		}
		if !reflect.DeepEqual(v.LastSentiment, want) {
			t.Errorf("visitor %s: last sentiment %+v, want %+v", id, v.LastSentiment, want)
		}
		if want != nil {
			checked++
		}
	}
	if checked < 5 {
		t.Errorf("only %d visitors have a sentiment: the fixture tests too little", checked)
	}
}

// testTranscript: a session's transcript is its record and every message,
// oldest first; an unknown session is storage.ErrNotFound.
func testTranscript(t *testing.T, open func(testing.TB) AdminEngine) {
	f := seedFixture(t, open)
	ctx := context.Background()
	for _, want := range f.sessions {
		sess, msgs, err := f.s.Transcript(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		// As the record's JSON: what a reader sees of it, not the
		// engine's own bookkeeping.
		if got, want := mustJSON(t, sess), mustJSON(t, want); got != want {
			t.Errorf("session:\n got %s\nwant %s", got, want)
		}
		if len(msgs) != want.MessageCount || len(msgs) == 0 || msgs[0].Text != "Hi!" || msgs[len(msgs)-1].ID != want.LastMessageID {
			t.Errorf("session %s: %d messages, want %d ending at %s", want.ID, len(msgs), want.MessageCount, want.LastMessageID)
		}
		if !slices.IsSortedFunc(msgs, func(a, b storage.Message) int { return strings.Compare(a.ID, b.ID) }) {
			t.Errorf("session %s: messages out of order", want.ID)
		}
	}
	if _, _, err := f.s.Transcript(ctx, storage.NewID(t0)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown session: %v, want ErrNotFound", err)
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// wantFunnel is the funnel computed the slow way from the records.
func (f *fixture) wantFunnel(q storage.FunnelQuery) *storage.Funnel { return WantFunnel(f.sessions, q) }

// WantFunnel is the funnel of sessions (the records as stored) computed
// the slow way: the model an engine's funnel is compared with.
func WantFunnel(sessions []*storage.Session, q storage.FunnelQuery) *storage.Funnel {
	want := &storage.Funnel{}
	blocks, goals := map[string]int64{}, map[string]int64{}
	versions := map[storage.Conversion]storage.Conversion{}
	for _, s := range sessions {
		if !inPeriod(s.StartedAt, q.From, q.To) || (q.Site != "" && s.Site != q.Site) {
			continue
		}
		k := storage.Conversion{Bot: s.Bot, Version: s.Version}
		c := versions[k]
		c.Bot, c.Version = s.Bot, s.Version
		c.Opened++
		if len(s.State.Goals) > 0 {
			c.Converted++
		}
		versions[k] = c
		if s.Bot != q.Bot || (q.Version != "" && s.Version != q.Version) {
			continue
		}
		want.Opened++
		if len(s.State.Goals) > 0 {
			want.Converted++
		}
		for _, b := range s.State.Reached {
			blocks[b]++
		}
		for _, g := range s.State.Goals {
			goals[g]++
		}
	}
	counts := func(m map[string]int64) []storage.Count {
		var out []storage.Count
		for k, n := range m {
			out = append(out, storage.Count{Key: k, Count: n})
		}
		slices.SortFunc(out, func(a, b storage.Count) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Key, b.Key))
		})
		return out
	}
	want.Blocks, want.Goals = counts(blocks), counts(goals)
	for _, k := range slices.SortedFunc(maps.Keys(versions), func(a, b storage.Conversion) int {
		return cmp.Or(strings.Compare(a.Bot, b.Bot), strings.Compare(a.Version, b.Version))
	}) {
		want.Versions = append(want.Versions, versions[k])
	}
	return want
}

// testFunnelMatchesBruteForce: the funnel's counts of blocks, goals and
// conversions per bot version, for several stories and periods, equal
// the counts over the records.
func testFunnelMatchesBruteForce(t *testing.T, open func(testing.TB) AdminEngine) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, open, 29, 80, end)
	// More blocks and goals than the fixture's: a session reaches some of
	// a story's five blocks, in order, and one of two goals.
	ctx := context.Background()
	for i, s := range f.sessions {
		st := s.State
		st.Reached = append(slices.Clone(st.Reached), []string{"menu", "ask name", "ask/email", "phone", "bye"}[:i%6]...)
		if i%7 == 0 {
			st.Goals = append(slices.Clone(st.Goals), "call")
		}
		got, _, _, err := f.s.RecordTurn(ctx, &storage.Turn{SessionID: s.ID, State: &st})
		if err != nil {
			t.Fatal(err)
		}
		f.sessions[i] = got
	}
	queries := []storage.FunnelQuery{
		{From: end.AddDate(-2, 0, 0), To: end, Bot: "demo"},
		{From: end.AddDate(-2, 0, 0), To: end, Bot: "sales", Version: "2"},
		{From: end.AddDate(0, -3, 0), To: end.AddDate(0, -1, 0), Bot: "demo", Version: "1"},
		{From: end.AddDate(0, -6, 0), To: end, Bot: "demo", Site: "demo"},
		{From: end.AddDate(0, -6, 0), To: end, Bot: "demo", Site: "other"},
		{From: end.AddDate(0, -6, 0), To: end, Bot: "nobody"},
	}
	// Periods cut inside days: from and to at sessions' own starts.
	for _, s := range f.sessions[:6] {
		queries = append(queries, storage.FunnelQuery{From: s.StartedAt, To: end, Bot: "demo"},
			storage.FunnelQuery{From: end.AddDate(-1, 0, 0), To: s.StartedAt.Add(time.Hour), Bot: "sales"})
	}
	for _, q := range queries {
		got, err := f.s.Funnel(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want := f.wantFunnel(q)
		if q.Bot == "demo" && q.Site == "" && q.Version == "" && q.From.Equal(end.AddDate(-2, 0, 0)) &&
			(want.Opened == 0 || !slices.ContainsFunc(want.Blocks, func(c storage.Count) bool { return c.Key == "ask/email" })) {
			t.Fatalf("the model has nothing to compare: %+v", want)
		}
		if got.Opened != want.Opened || got.Converted != want.Converted || !slices.Equal(got.Blocks, want.Blocks) ||
			!slices.Equal(got.Goals, want.Goals) || !slices.Equal(got.Versions, want.Versions) {
			t.Errorf("%+v:\n got %+v\nwant %+v", q, got, want)
		}
	}
	for _, tt := range []struct {
		q     storage.FunnelQuery
		field string
	}{
		{storage.FunnelQuery{To: end, Bot: "demo"}, "From"},
		{storage.FunnelQuery{From: end, To: end, Bot: "demo"}, "From"},
		{storage.FunnelQuery{From: end.AddDate(-20, 0, 0), To: end, Bot: "demo"}, "From"},
		{storage.FunnelQuery{From: end.AddDate(0, -1, 0), To: end}, "Bot"},
	} {
		_, err := f.s.Funnel(ctx, tt.q)
		wantFieldError(t, err, tt.field)
	}
}
