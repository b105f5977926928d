package storage

import (
	"context"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestSessions_FilterCombinations runs combinations of the dashboard's
// filters with the sentiment and unanswered ones (which
// TestSessions_EveryFilterCombination leaves out) against the slow answer
// over a generated store, paging by 7
// and by 500: every combination of up to three filters (sentiment with
// each label), and 150 random larger ones.
func TestSessions_FilterCombinations(t *testing.T) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, 21, 70, end)
	live := newFakeLive(f, end)
	yes := true
	labels := []string{SentimentPositive, SentimentNeutral, SentimentNegative, SentimentUnknown}
	filters := []struct {
		name string
		set  func(q *SessionQuery, variant int)
	}{
		{"period", func(q *SessionQuery, _ int) { q.From, q.To = end.AddDate(0, -8, 0), end.AddDate(0, -1, 0) }},
		{"site", func(q *SessionQuery, _ int) { q.Site = "demo" }},
		{"bot", func(q *SessionQuery, _ int) { q.Bot = "demo" }},
		{"version", func(q *SessionQuery, _ int) { q.Version = "2" }},
		{"channel", func(q *SessionQuery, _ int) { q.Channel = "web" }},
		{"responses", func(q *SessionQuery, _ int) { q.Responses = &yes }},
		{"goal", func(q *SessionQuery, _ int) { q.Goal = AnyGoal }},
		{"tag", func(q *SessionQuery, _ int) { q.Tag = "pricing" }},
		{"block", func(q *SessionQuery, _ int) { q.Block = "ask_name" }},
		{"sentiment", func(q *SessionQuery, v int) { q.Sentiment = labels[v%len(labels)] }},
		{"unanswered", func(q *SessionQuery, _ int) { q.Unanswered = true }},
		{"status", func(q *SessionQuery, _ int) { q.Status = StatusInactive }},
		{"q", func(q *SessionQuery, _ int) { q.Q = "x@example" }},
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
		q := SessionQuery{Live: live, Now: end}
		var names []string
		for i, fl := range filters {
			if mask&(1<<i) != 0 {
				fl.set(&q, mask>>len(filters))
				names = append(names, fl.name)
			}
		}
		want := f.wantSessions(q) // query_status_test.go
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

func TestSessions_BadSentiment(t *testing.T) {
	s := openQueryStore(t)
	_, err := s.Sessions(context.Background(), SessionQuery{Sentiment: "angry"})
	if fe, ok := err.(*FieldError); !ok || fe.Field != "Sentiment" {
		t.Fatalf("sentiment angry: %v, want a FieldError on Sentiment", err)
	}
}

// gapEntry is one unanswered text as the slow model sees it.
type gapEntry struct {
	at       time.Time
	sid      string
	n        int
	site     string
	bot      string
	text     string
	position string // the entry's key suffix: the order the report reads
}

// wantGaps is the Knowledge gaps report computed the slow way from the
// session records.
func (f *fixture) wantGaps(q GapQuery) *GapReport {
	var all []gapEntry
	for _, s := range f.sessions {
		for i, g := range s.Gaps {
			if inPeriod(g.At, q.From, q.To) {
				all = append(all, gapEntry{g.At, s.ID, i, s.Site, s.Bot, g.Text, string(gapKey(s.ID, i, g))})
			}
		}
	}
	slices.SortFunc(all, func(a, b gapEntry) int { return strings.Compare(b.position, a.position) })
	rep := &GapReport{}
	maxScan := q.MaxScan
	if maxScan == 0 {
		maxScan = DefaultGapScan
	}
	if maxScan > 0 && len(all) > maxScan {
		all, rep.Truncated = all[:maxScan], true
		rep.Since = all[maxScan-1].at
	}
	groups := map[string]*GapRow{}
	for _, e := range all {
		if (q.Site != "" && e.site != q.Site) || (q.Bot != "" && e.bot != q.Bot) {
			continue
		}
		rep.Texts++
		k := NormalizeGap(e.text)
		g := groups[k]
		if g == nil {
			g = &GapRow{Key: k, Text: e.text, LastAt: e.at}
			groups[k] = g
		}
		g.Count++
		g.FirstAt = e.at
		if !slices.Contains(g.SessionIDs, e.sid) {
			g.SessionIDs = append(g.SessionIDs, e.sid)
		}
	}
	for _, g := range groups {
		g.Sessions = len(g.SessionIDs)
		g.SessionIDs = g.SessionIDs[:min(len(g.SessionIDs), maxGapSessions)]
		rep.Items = append(rep.Items, *g)
	}
	rep.Groups = len(groups)
	slices.SortFunc(rep.Items, func(a, b GapRow) int {
		switch {
		case a.Count != b.Count:
			return b.Count - a.Count
		case !a.LastAt.Equal(b.LastAt):
			return b.LastAt.Compare(a.LastAt)
		}
		return strings.Compare(a.Key, b.Key)
	})
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	rep.Items = rep.Items[:min(limit, len(rep.Items))]
	if rep.Items == nil {
		rep.Items = []GapRow{}
	}
	return rep
}

// TestGaps_MatchesBruteForce checks the Knowledge gaps report against the
// slow model over a generated store: grouping, counts, first and last
// seen, the sessions linked, the order, the filters and the scan bound.
func TestGaps_MatchesBruteForce(t *testing.T) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, 5, 120, end)
	total := 0
	for _, s := range f.sessions {
		total += len(s.Gaps)
	}
	if total < 40 {
		t.Fatalf("the fixture has %d unanswered texts: too few to test", total)
	}
	queries := []GapQuery{
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
				got.Items = []GapRow{}
			}
			if want := f.wantGaps(q); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
	t.Run("Grouped", func(t *testing.T) {
		rep, err := f.s.Gaps(context.Background(), GapQuery{Limit: 500})
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
	t.Run("BadPeriod", func(t *testing.T) {
		_, err := f.s.Gaps(context.Background(), GapQuery{From: end, To: end.AddDate(0, -1, 0)})
		if fe, ok := err.(*FieldError); !ok || fe.Field != "From" {
			t.Errorf("from after to: %v", err)
		}
	})
}

func TestNormalizeGap(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Pricing?", "pricing"},
		{"  pricing ", "pricing"},
		{"PRICING!!", "pricing"},
		{"How do I reset my password?", "how do i reset my password"},
		{"how   do i reset\tmy password", "how do i reset my password"},
		{"Liefert ihr nach Österreich?", "liefert ihr nach österreich"},
		{"Was kostet's?", "was kostet s"},
		{"😡", "😡"},
		{" ??? ", "???"},
		{strings.Repeat("a", 200), strings.Repeat("a", 120)},
	}
	for _, tt := range tests {
		if got := NormalizeGap(tt.in); got != tt.want {
			t.Errorf("NormalizeGap(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestVisitor_LastSentiment checks the visitor's rollup: the last
// expression's sentiment of whichever of its sessions spoke last.
func TestVisitor_LastSentiment(t *testing.T) {
	f := randomFixture(t, 9, 60, time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC))
	checked := 0
	for id, v := range f.visitors {
		var want *Sentiment
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

// FuzzNormalizeGap checks the grouping key of any text a visitor may type:
// it is what it keys on (normalising it again changes nothing), valid
// UTF-8, at most 120 characters, and empty only for an empty text.
func FuzzNormalizeGap(f *testing.F) {
	for _, s := range []string{"Pricing?", "  pricing ", "😡", "???", "Was kostet's?", "\xff", strings.Repeat("ab ", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) {
			text = strings.ToValidUTF8(text, "\uFFFD") // frames arrive as valid UTF-8 (CleanText)
		}
		k := NormalizeGap(text)
		if NormalizeGap(k) != k {
			t.Fatalf("NormalizeGap(%q) = %q, but again %q", text, k, NormalizeGap(k))
		}
		if !utf8.ValidString(k) || utf8.RuneCountInString(k) > 120 || (k == "" && strings.TrimSpace(text) != "") {
			t.Fatalf("NormalizeGap(%q) = %q", text, k)
		}
	})
}

// TestUnanswered_Caps: a session keeps its first MaxSessionGaps texts
// for the report, each cut to MaxGapText characters, and counts them all;
// the message keeps its whole text.
func TestUnanswered_Caps(t *testing.T) {
	var st State
	var kept []Gap
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	long := strings.Repeat("ä", MaxGapText+10)
	for i := range MaxSessionGaps + 10 {
		m := Message{At: at.Add(time.Duration(i) * time.Second), Text: long}
		kept = append(kept, Unanswered(&st, &m, len(kept))...)
		if !m.Unanswered || m.Text != long {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	if st.UnansweredCount != MaxSessionGaps+10 || len(kept) != MaxSessionGaps {
		t.Errorf("count %d, kept %d; want %d and %d", st.UnansweredCount, len(kept), MaxSessionGaps+10, MaxSessionGaps)
	}
	if n := utf8.RuneCountInString(kept[0].Text); n != MaxGapText {
		t.Errorf("kept text of %d characters, want %d", n, MaxGapText)
	}
}

// TestGaps_CrashFolds: unanswered texts whose turns were committed but not
// folded (the process died first) are in the report after the restart,
// each once, with the session's count.
func TestGaps_CrashFolds(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{IndexDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	own := ownedSessions(t, s, 1, t0)[0]
	for i, text := range []string{"Pricing?", "pricing", "Do you ship to Austria?"} {
		turn := textTurn(own, fmt.Sprintf("c%d", i), t0.Add(time.Duration(i+1)*time.Second))
		st := own.State
		turn.Messages[0].Text = text
		turn.Gaps = Unanswered(&st, &turn.Messages[0], len(own.Gaps))
		turn.State = &st
		if own, _, _, err = s.RecordTurn(context.Background(), turn); err != nil {
			t.Fatal(err)
		}
	}
	dieWithoutFolding(t, s) // fold_test.go
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, err := s.Gaps(context.Background(), GapQuery{})
	if err != nil || rep.Texts != 3 || rep.Groups != 2 || rep.Items[0].Key != "pricing" || rep.Items[0].Count != 2 {
		t.Fatalf("report after the restart: %+v, %v", rep, err)
	}
	got, err := s.Session(context.Background(), own.ID)
	if err != nil || len(got.Gaps) != 3 || got.State.UnansweredCount != 3 {
		t.Fatalf("session after the restart: %+v, %v", got, err)
	}
	if r, err := s.Verify(context.Background()); err != nil || len(r.Problems) > 0 {
		t.Fatalf("verify: %v %v", r.Problems, err)
	}
}
