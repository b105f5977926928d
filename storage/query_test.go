package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

// seedFixture is the seed-000 example: flags on one session or spread over
// two, a session without interaction, and each branch of the label rule.
func seedFixture(tb testing.TB) *fixture {
	f := &fixture{s: openQueryStore(tb), visitors: map[string]*Visitor{}}
	day := 24 * time.Hour
	f.add(tb, "01JAAAAAAAAAAAAAAAAAAAAAA1", sessionSpec{start: t0, acts: []act{actChoice}})
	f.add(tb, "01JAAAAAAAAAAAAAAAAAAAAAA2",
		sessionSpec{start: t0.Add(day), acts: []act{actFile}},
		sessionSpec{start: t0.Add(2 * day), acts: []act{actChoice}})
	f.add(tb, "01JAAAAAAAAAAAAAAAAAAAAAA3", sessionSpec{start: t0.Add(3 * day)})
	f.add(tb, "01JAAAAAAAAAAAAAAAAAAAAAA4", sessionSpec{start: t0.Add(4 * day),
		acts: []act{actChoice, actFile, actInput("email", "email", "lee@example.org")}})
	f.add(tb, "01JAAAAAAAAAAAAAAAAAAAAAA5",
		sessionSpec{start: t0.Add(5 * day), acts: []act{actInput("text", "LastName", "Anna Lee")}},
		sessionSpec{start: t0.Add(6 * day), acts: []act{actInput("phone", "phone", "+49 30 1234567"), actInput("email", "email", "anna@example.org")}},
		sessionSpec{start: t0.Add(7 * day), acts: []act{actInput("phone", "phone", "+49 30 7654321")}})
	f.add(tb, "01JAAAAAAAAAAAAAAAAAAAAAA6", sessionSpec{start: t0.Add(8 * day), acts: []act{actInput("text", "city", "Berlin"), actText}})
	return f
}

func TestUsers_SeedSemantics(t *testing.T) {
	f := seedFixture(t)
	const v1, v2, v3, v4, v5, v6 = "01JAAAAAAAAAAAAAAAAAAAAAA1", "01JAAAAAAAAAAAAAAAAAAAAAA2", "01JAAAAAAAAAAAAAAAAAAAAAA3",
		"01JAAAAAAAAAAAAAAAAAAAAAA4", "01JAAAAAAAAAAAAAAAAAAAAAA5", "01JAAAAAAAAAAAAAAAAAAAAAA6"
	tests := []struct {
		name  string
		flags byte
		want  []string
	}{
		{"NoFlagListsSilentSessions", 0, []string{v6, v5, v4, v3, v2, v1}},
		{"Engaged", FlagEngaged, []string{v4, v2, v1}},
		{"Files", FlagFiles, []string{v4, v2}},
		{"Inputs", FlagInputs, []string{v6, v5, v4}},
		{"EngagedFilesOnOneSession", FlagEngaged | FlagFiles, []string{v4}},
		{"EngagedInputs", FlagEngaged | FlagInputs, []string{v4}},
		{"FilesInputs", FlagFiles | FlagInputs, []string{v4}},
		{"All", FlagEngaged | FlagFiles | FlagInputs, []string{v4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := allUsers(t, f.s, UserQuery{Flags: tt.flags, Limit: 2}); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("Period", func(t *testing.T) {
		// v2's engaged session is on day 2, its file session on day 1.
		q := UserQuery{From: t0.Add(24 * time.Hour), To: t0.Add(48 * time.Hour), Flags: FlagFiles}
		if got := allUsers(t, f.s, q); !slices.Equal(got, []string{v2}) {
			t.Errorf("files on day 1: got %v", got)
		}
		q.Flags = FlagEngaged
		if got := allUsers(t, f.s, q); len(got) != 0 {
			t.Errorf("engaged on day 1: got %v, want none", got)
		}
	})
	t.Run("Label", func(t *testing.T) {
		want := map[string]string{v1: v1, v3: v3, v4: "lee@example.org", v5: "+49 30 7654321", v6: v6}
		for id, label := range want {
			if got := f.visitors[id].Label(); got != label {
				t.Errorf("%s: label %q, want %q", id, got, label)
			}
		}
		if got := f.visitors[v5].Name; got != "Anna Lee" {
			t.Errorf("name from LastName: %q", got)
		}
	})
	t.Run("Columns", func(t *testing.T) {
		p, err := f.s.Users(context.Background(), UserQuery{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Items {
			v := r.Visitor
			switch v.ID {
			case v3:
				if !v.LastFileAt.IsZero() || !v.LastInputAt.IsZero() || !v.LastInteractionAt.IsZero() {
					t.Errorf("silent visitor has dates: %+v", v)
				}
				if r.LastActivityAt.IsZero() {
					t.Error("silent visitor has no activity time")
				}
			case v4:
				if v.LastFileAt.IsZero() || v.LastInputAt.IsZero() {
					t.Errorf("v4 misses file or input date: %+v", v)
				}
			}
		}
	})
}

func TestUsers_MatchesBruteForce(t *testing.T) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, 7, 80, end)
	periods := [][2]time.Time{
		{},
		{end.AddDate(0, -6, 0), time.Time{}},
		{time.Time{}, end.AddDate(0, -3, 0)},
		{end.AddDate(0, -8, 0), end.AddDate(0, -2, 0)},
		{end.AddDate(0, -1, 0), end.AddDate(0, -1, 0)},
	}
	for mask := range byte(8) {
		for pi, p := range periods {
			for _, limit := range []int{1, 3, 500} {
				t.Run(fmt.Sprintf("mask%d/period%d/limit%d", mask, pi, limit), func(t *testing.T) {
					got := allUsers(t, f.s, UserQuery{From: p[0], To: p[1], Flags: mask, Limit: limit})
					if want := f.wantUsers(p[0], p[1], mask); !slices.Equal(got, want) {
						t.Errorf("got %d visitors %v\nwant %d %v", len(got), got, len(want), want)
					}
				})
			}
		}
	}
}

func TestUsers_BadParams(t *testing.T) {
	f := seedFixture(t)
	ctx := context.Background()
	p, err := f.s.Users(ctx, UserQuery{Limit: 2})
	if err != nil || p.Next == "" {
		t.Fatalf("first page: %v %v", p, err)
	}
	tamper := []byte(p.Next)
	tamper[10] ^= 1
	tests := []struct {
		name  string
		q     UserQuery
		field string
	}{
		{"LimitHigh", UserQuery{Limit: 501}, "Limit"},
		{"LimitNegative", UserQuery{Limit: -1}, "Limit"},
		{"FromAfterTo", UserQuery{From: t0, To: t0.Add(-time.Second)}, "From"},
		{"Garbage", UserQuery{Cursor: "not a cursor"}, "Cursor"},
		{"Tampered", UserQuery{Cursor: string(tamper)}, "Cursor"},
		{"OtherFilter", UserQuery{Cursor: p.Next, Flags: FlagEngaged}, "Cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.s.Users(ctx, tt.q)
			var pe *FieldError
			if !errors.As(err, &pe) || pe.Field != tt.field {
				t.Fatalf("got %v, want a FieldError for %s", err, tt.field)
			}
		})
	}
	t.Run("OtherList", func(t *testing.T) {
		_, err := f.s.Sessions(ctx, SessionQuery{Cursor: p.Next})
		var pe *FieldError
		if !errors.As(err, &pe) || pe.Field != "Cursor" {
			t.Fatalf("users cursor on sessions: %v", err)
		}
	})
}

func TestUsers_Search(t *testing.T) {
	f := seedFixture(t)
	tests := []struct {
		q    string
		want []string
	}{
		{"anna", []string{"01JAAAAAAAAAAAAAAAAAAAAAA5"}},
		{"Anna Lee", []string{"01JAAAAAAAAAAAAAAAAAAAAAA5"}},
		{"lee", []string{"01JAAAAAAAAAAAAAAAAAAAAAA5", "01JAAAAAAAAAAAAAAAAAAAAAA4"}},
		{"lee@example.org", []string{"01JAAAAAAAAAAAAAAAAAAAAAA4"}},
		{"+49 30 765", []string{"01JAAAAAAAAAAAAAAAAAAAAAA5"}},
		{"4930123", nil}, // an earlier phone, replaced since
		{"01jaaaaaaaaaaaaaaaaaaaaaa3", []string{"01JAAAAAAAAAAAAAAAAAAAAAA3"}},
		{"berlin", nil}, // a city is no name
		{"nobody", nil},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			if got := allUsers(t, f.s, UserQuery{Q: tt.q, Limit: 1}); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVisitorSessions_Filters(t *testing.T) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, 11, 30, end)
	ctx := context.Background()
	from := end.AddDate(0, -7, 0)
	for vid := range f.visitors {
		for mask := range byte(8) {
			var want []string
			for _, s := range f.sessions {
				if s.VisitorID == vid && inPeriod(s.LastActivityAt, from, time.Time{}) && s.flags()&mask == mask {
					want = append(want, sessionSuffix(s.LastActivityAt, s.ID))
				}
			}
			slices.Sort(want)
			slices.Reverse(want)
			var got []string
			q := VisitorSessionQuery{VisitorID: vid, From: from, Flags: mask, Limit: 1}
			for {
				p, err := f.s.VisitorSessions(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range p.Items {
					got = append(got, sessionSuffix(s.LastActivityAt, s.ID))
				}
				if q.Cursor = p.Next; q.Cursor == "" {
					break
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s mask %d: got %d sessions, want %d", vid, mask, len(got), len(want))
			}
		}
	}
}

func TestSessions_Filters(t *testing.T) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, 13, 60, end)
	yes, no := true, false
	live := newFakeLive(f, end)
	queries := []SessionQuery{
		{},
		{Bot: "sales"},
		{Bot: "demo", Version: "2"},
		{Channel: "app", Responses: &yes},
		{Responses: &no},
		{Goal: AnyGoal},
		{Goal: "lead", Tag: "pricing"},
		{Block: "ask_name", Bot: "demo", Channel: "web"},
		{Status: StatusActive},
		{Status: StatusInactive, Goal: "lead"},
		{Status: StatusOpen},
		{Status: StatusClosed, Forms: true},
		{Forms: true, Type: "lead", Lang: "en"},
		{From: end.AddDate(0, -4, 0), To: end.AddDate(0, -1, 0), Tag: "pricing"},
		{Q: "anna"},
		{Q: "example", Bot: "sales", Status: StatusInactive},
		{Q: "example", Status: StatusOpen, Lang: "de"},
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

func TestUsage_MatchesBruteForce(t *testing.T) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, 17, 80, end)
	periods := []UsageQuery{
		{From: end.AddDate(0, 0, -30), To: end},
		{From: end.AddDate(-1, 0, 0), To: end},
		{From: end.AddDate(0, -5, 0).Add(13 * time.Hour), To: end.AddDate(0, -1, 0).Add(7 * time.Hour)},
		{From: end.AddDate(0, -5, 0).Add(13 * time.Hour), To: end.AddDate(0, -5, 0).Add(20 * time.Hour)},
		{From: end.AddDate(-1, 0, 0), To: end, Bot: "sales"},
		{From: end.AddDate(-1, 0, 0), To: end, Bot: "demo", Version: "2", Channel: "web"},
		{From: end.AddDate(-1, 0, 0), To: end, Site: "other"},
	}
	// Cut days: a period ending or starting at each session's own start.
	for _, s := range f.sessions[:10] {
		periods = append(periods, UsageQuery{From: s.StartedAt, To: end}, UsageQuery{From: end.AddDate(-2, 0, 0), To: s.StartedAt})
	}
	for i, q := range periods {
		t.Run(fmt.Sprintf("p%d", i), func(t *testing.T) {
			got, err := f.s.Usage(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			var total int64
			days, bots := map[string]int64{}, map[string]int64{}
			for _, s := range f.sessions {
				if inPeriod(s.StartedAt, q.From, q.To) && (q.Site == "" || s.Site == q.Site) &&
					(q.Bot == "" || q.Bot == s.Bot) && (q.Version == "" || q.Version == s.Version) && (q.Channel == "" || q.Channel == s.Channel) {
					total++
					days[s.StartedAt.Format("2006-01-02")]++
					bots[s.Bot]++
				}
			}
			if got.Total != total {
				t.Fatalf("total %d, want %d", got.Total, total)
			}
			var sum, monthSum int64
			for _, d := range got.Days {
				sum += d.Count
				if d.Count != days[d.Key] {
					t.Errorf("day %s: %d, want %d", d.Key, d.Count, days[d.Key])
				}
			}
			for _, m := range got.Months {
				monthSum += m.Count
			}
			if sum != total || monthSum != total {
				t.Errorf("days sum %d, months sum %d, want %d", sum, monthSum, total)
			}
			for _, b := range got.Bots {
				if b.Count != bots[b.Key] {
					t.Errorf("bot %s: %d, want %d", b.Key, b.Count, bots[b.Key])
				}
			}
		})
	}
	t.Run("BadPeriod", func(t *testing.T) {
		_, err := f.s.Usage(context.Background(), UsageQuery{From: end, To: end.Add(-time.Hour)})
		var pe *FieldError
		if !errors.As(err, &pe) || pe.Field != "From" {
			t.Fatalf("got %v", err)
		}
	})
}
