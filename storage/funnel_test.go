package storage

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"
)

// wantFunnel is the funnel computed the slow way from the records.
func (f *fixture) wantFunnel(q FunnelQuery) *Funnel {
	want := &Funnel{}
	blocks, goals := map[string]int64{}, map[string]int64{}
	versions := map[Conversion]Conversion{}
	for _, s := range f.sessions {
		if !inPeriod(s.StartedAt, q.From, q.To) || (q.Site != "" && s.Site != q.Site) {
			continue
		}
		k := Conversion{Bot: s.Bot, Version: s.Version}
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
	counts := func(m map[string]int64) []Count {
		var out []Count
		for k, n := range m {
			out = append(out, Count{k, n})
		}
		slices.SortFunc(out, func(a, b Count) int {
			if a.Count != b.Count {
				return int(b.Count - a.Count)
			}
			return cmpString(a.Key, b.Key)
		})
		return out
	}
	want.Blocks, want.Goals = counts(blocks), counts(goals)
	for _, k := range slices.SortedFunc(maps.Keys(versions), func(a, b Conversion) int {
		if a.Bot != b.Bot {
			return cmpString(a.Bot, b.Bot)
		}
		return cmpString(a.Version, b.Version)
	}) {
		want.Versions = append(want.Versions, versions[k])
	}
	return want
}

// TestFunnel_MatchesBruteForce: the funnel's counts of blocks, goals and
// conversions per bot version, for several stories and periods, equal
// the counts over the records.
func TestFunnel_MatchesBruteForce(t *testing.T) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, 29, 80, end)
	// More blocks and goals than the fixture's: a session reaches some of
	// a story's five blocks, in order, and one of two goals.
	ctx := context.Background()
	for i, s := range f.sessions {
		st := s.State
		st.Reached = append(slices.Clone(st.Reached), []string{"menu", "ask name", "ask/email", "phone", "bye"}[:i%6]...)
		if i%7 == 0 {
			st.Goals = append(slices.Clone(st.Goals), "call")
		}
		got, _, _, err := f.s.RecordTurn(ctx, &Turn{SessionID: s.ID, State: &st})
		if err != nil {
			t.Fatal(err)
		}
		f.sessions[i] = got
	}
	queries := []FunnelQuery{
		{From: end.AddDate(-2, 0, 0), To: end, Bot: "demo"},
		{From: end.AddDate(-2, 0, 0), To: end, Bot: "sales", Version: "2"},
		{From: end.AddDate(0, -3, 0), To: end.AddDate(0, -1, 0), Bot: "demo", Version: "1"},
		{From: end.AddDate(0, -6, 0), To: end, Bot: "demo", Site: "demo"},
		{From: end.AddDate(0, -6, 0), To: end, Bot: "demo", Site: "other"},
		{From: end.AddDate(0, -6, 0), To: end, Bot: "nobody"},
	}
	for _, q := range queries {
		got, err := f.s.Funnel(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want := f.wantFunnel(q)
		if q.Bot == "demo" && q.Site == "" && q.Version == "" && (want.Opened == 0 || !slices.ContainsFunc(want.Blocks, func(c Count) bool { return c.Key == "ask/email" })) {
			t.Fatalf("the model has nothing to compare: %+v", want)
		}
		if got.Opened != want.Opened || got.Converted != want.Converted || !slices.Equal(got.Blocks, want.Blocks) ||
			!slices.Equal(got.Goals, want.Goals) || !slices.Equal(got.Versions, want.Versions) {
			t.Errorf("%+v:\n got %+v\nwant %+v", q, got, want)
		}
	}
	for _, q := range []FunnelQuery{{To: end, Bot: "demo"}, {From: end, To: end, Bot: "demo"}, {From: end.AddDate(-20, 0, 0), To: end, Bot: "demo"},
		{From: end.AddDate(0, -1, 0), To: end}} {
		if _, err := f.s.Funnel(ctx, q); err == nil {
			t.Errorf("%+v: no error", q)
		}
	}
}
