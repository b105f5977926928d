package contract

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

var t0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

const v1, v2, v3, v4, v5, v6 = "01JAAAAAAAAAAAAAAAAAAAAAA1", "01JAAAAAAAAAAAAAAAAAAAAAA2", "01JAAAAAAAAAAAAAAAAAAAAAA3",
	"01JAAAAAAAAAAAAAAAAAAAAAA4", "01JAAAAAAAAAAAAAAAAAAAAAA5", "01JAAAAAAAAAAAAAAAAAAAAAA6"

// seedFixture is the seed-000 example: flags on one session or spread over
// two, a session without interaction, and each branch of the label rule.
func seedFixture(tb testing.TB, open func(testing.TB) AdminEngine) *fixture {
	f := newFixture(tb, open)
	day := 24 * time.Hour
	f.add(tb, v1, sessionSpec{start: t0, acts: []act{actChoice}})
	f.add(tb, v2,
		sessionSpec{start: t0.Add(day), acts: []act{actFile}},
		sessionSpec{start: t0.Add(2 * day), acts: []act{actChoice}})
	f.add(tb, v3, sessionSpec{start: t0.Add(3 * day)})
	f.add(tb, v4, sessionSpec{start: t0.Add(4 * day),
		acts: []act{actChoice, actFile, actInput("email", "email", "lee@example.org")}})
	f.add(tb, v5,
		sessionSpec{start: t0.Add(5 * day), acts: []act{actInput("text", "LastName", "Anna Lee")}},
		sessionSpec{start: t0.Add(6 * day), acts: []act{actInput("phone", "phone", "+49 30 1234567"), actInput("email", "email", "anna@example.org")}},
		sessionSpec{start: t0.Add(7 * day), acts: []act{actInput("phone", "phone", "+49 30 7654321")}})
	f.add(tb, v6, sessionSpec{start: t0.Add(8 * day), acts: []act{actInput("text", "city", "Berlin"), actText}})
	return f
}

// wantUsers is the overview computed the slow way from the records.
func (f *fixture) wantUsers(from, to time.Time, mask byte) []string {
	best := map[string]string{}
	for _, s := range f.sessions {
		if !inPeriod(s.LastActivityAt, from, to) || flags(s)&mask != mask {
			continue
		}
		if p := position(s.LastActivityAt, s.ID); p > best[s.VisitorID] {
			best[s.VisitorID] = p
		}
	}
	vids := make([]string, 0, len(best))
	for vid := range best {
		vids = append(vids, vid)
	}
	slices.SortFunc(vids, func(a, b string) int { return strings.Compare(best[b], best[a]) })
	return vids
}

// allUsers pages through the overview and returns the visitor IDs in order.
func allUsers(tb testing.TB, s AdminEngine, q storage.UserQuery) []string {
	tb.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		p, err := s.Users(context.Background(), q)
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range p.Items {
			ids = append(ids, r.Visitor.ID)
			if r.Session == nil || r.Session.ID != r.SessionID || r.Session.VisitorID != r.Visitor.ID {
				tb.Fatalf("row of visitor %s names session %s: %+v", r.Visitor.ID, r.SessionID, r.Session)
			}
		}
		if p.Next == "" {
			return ids
		}
		if len(p.Items) == 0 || pages > 10000 {
			tb.Fatalf("page %d: empty page with a next cursor", pages)
		}
		q.Cursor = p.Next
	}
}

func testUsersSeedSemantics(t *testing.T, open func(testing.TB) AdminEngine) {
	f := seedFixture(t, open)
	tests := []struct {
		name  string
		flags byte
		want  []string
	}{
		{"NoFlagListsSilentSessions", 0, []string{v6, v5, v4, v3, v2, v1}},
		{"Engaged", storage.FlagEngaged, []string{v4, v2, v1}},
		{"Files", storage.FlagFiles, []string{v4, v2}},
		{"Inputs", storage.FlagInputs, []string{v6, v5, v4}},
		{"EngagedFilesOnOneSession", storage.FlagEngaged | storage.FlagFiles, []string{v4}},
		{"EngagedInputs", storage.FlagEngaged | storage.FlagInputs, []string{v4}},
		{"FilesInputs", storage.FlagFiles | storage.FlagInputs, []string{v4}},
		{"All", storage.FlagEngaged | storage.FlagFiles | storage.FlagInputs, []string{v4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := allUsers(t, f.s, storage.UserQuery{Flags: tt.flags, Limit: 2}); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("Period", func(t *testing.T) {
		// v2's engaged session is on day 2, its file session on day 1.
		q := storage.UserQuery{From: t0.Add(24 * time.Hour), To: t0.Add(48 * time.Hour), Flags: storage.FlagFiles}
		if got := allUsers(t, f.s, q); !slices.Equal(got, []string{v2}) {
			t.Errorf("files on day 1: got %v", got)
		}
		q.Flags = storage.FlagEngaged
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
		p, err := f.s.Users(context.Background(), storage.UserQuery{})
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

func testUsersMatchesBruteForce(t *testing.T, open func(testing.TB) AdminEngine) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, open, 7, 80, end)
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
					got := allUsers(t, f.s, storage.UserQuery{From: p[0], To: p[1], Flags: mask, Limit: limit})
					if want := f.wantUsers(p[0], p[1], mask); !slices.Equal(got, want) {
						t.Errorf("got %d visitors %v\nwant %d %v", len(got), got, len(want), want)
					}
				})
			}
		}
	}
}

// wantFieldError fails unless err is a *storage.FieldError on field.
func wantFieldError(tb testing.TB, err error, field string) {
	tb.Helper()
	var pe *storage.FieldError
	if !errors.As(err, &pe) || pe.Field != field {
		tb.Fatalf("got %v, want a FieldError for %s", err, field)
	}
}

func testUsersBadParams(t *testing.T, open func(testing.TB) AdminEngine) {
	f := seedFixture(t, open)
	ctx := context.Background()
	p, err := f.s.Users(ctx, storage.UserQuery{Limit: 2})
	if err != nil || p.Next == "" {
		t.Fatalf("first page: %v %v", p, err)
	}
	tamper := []byte(p.Next)
	tamper[10] ^= 1
	tests := []struct {
		name  string
		q     storage.UserQuery
		field string
	}{
		{"LimitHigh", storage.UserQuery{Limit: 501}, "Limit"},
		{"LimitNegative", storage.UserQuery{Limit: -1}, "Limit"},
		{"FromAfterTo", storage.UserQuery{From: t0, To: t0.Add(-time.Second)}, "From"},
		{"UnknownFlag", storage.UserQuery{Flags: 8}, "Flags"},
		{"Garbage", storage.UserQuery{Cursor: "not a cursor"}, "Cursor"},
		{"Tampered", storage.UserQuery{Cursor: string(tamper)}, "Cursor"},
		{"OtherFilter", storage.UserQuery{Cursor: p.Next, Flags: storage.FlagEngaged}, "Cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.s.Users(ctx, tt.q)
			wantFieldError(t, err, tt.field)
		})
	}
	t.Run("OtherList", func(t *testing.T) {
		_, err := f.s.Sessions(ctx, storage.SessionQuery{Cursor: p.Next})
		wantFieldError(t, err, "Cursor")
		_, err = f.s.VisitorSessions(ctx, storage.VisitorSessionQuery{VisitorID: v1, Cursor: p.Next})
		wantFieldError(t, err, "Cursor")
	})
	t.Run("VisitorSessions", func(t *testing.T) {
		for _, q := range []storage.VisitorSessionQuery{{VisitorID: v1, Limit: 501}, {VisitorID: v1, Flags: 9}, {VisitorID: v1, From: t0, To: t0.Add(-1)}} {
			_, err := f.s.VisitorSessions(ctx, q)
			var pe *storage.FieldError
			if !errors.As(err, &pe) {
				t.Errorf("%+v: got %v, want a FieldError", q, err)
			}
		}
	})
}

func testUsersSearch(t *testing.T, open func(testing.TB) AdminEngine) {
	f := seedFixture(t, open)
	tests := []struct {
		q    string
		want []string
	}{
		{"anna", []string{v5}},
		{"Anna Lee", []string{v5}},
		{"lee", []string{v5, v4}},
		{"lee@example.org", []string{v4}},
		{"+49 30 765", []string{v5}},
		{"4930123", nil}, // an earlier phone, replaced since
		{"01jaaaaaaaaaaaaaaaaaaaaaa3", []string{v3}},
		{"01JAAAAAAAAAAAAAAAAAAAAAA", []string{v6, v5, v4, v3, v2, v1}},
		{"berlin", nil}, // a city is no name
		{"nobody", nil},
		{"%", nil},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			if got := allUsers(t, f.s, storage.UserQuery{Q: tt.q, Limit: 1}); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			// The sessions dashboard's search, a session a page: the
			// candidates that fail the check (an earlier phone's words, a
			// name's other word) between those that pass.
			q := storage.SessionQuery{Q: tt.q, Limit: 1, Live: newFakeLive(f), Now: time.Now()}
			if got, want := allSessions(t, f.s, q), f.wantSessions(q); !slices.Equal(got, want) {
				t.Errorf("sessions: got %v, want %v", got, want)
			}
		})
	}
}

// testUsersSearchManyTerms: a search considers storage.MaxSearchVisitors
// visitors, not index rows: visitors each with two words starting with
// the query (a name "Anna" and an email "anna.N@…"), more rows than the
// cap but fewer visitors, are all found, the oldest without an email too.
func testUsersSearchManyTerms(t *testing.T, open func(testing.TB) AdminEngine) {
	f := newFixture(t, open)
	n := storage.MaxSearchVisitors/2 + 1
	want := make([]string, 0, n+1)
	for i := range n + 1 {
		at := t0.Add(time.Duration(i) * time.Hour)
		acts := []act{actInput("text", "first_name", "Anna")}
		if i > 0 {
			acts = append(acts, actInput("email", "email", fmt.Sprintf("anna.%d@example.org", i)))
		}
		id := storage.NewID(at)
		f.add(t, id, sessionSpec{start: at, acts: acts})
		want = append(want, id)
	}
	slices.Reverse(want)
	if got := allUsers(t, f.s, storage.UserQuery{Q: "anna", Limit: 500}); !slices.Equal(got, want) {
		t.Errorf("found %d visitors, want %d; missing the oldest: %v", len(got), len(want), !slices.Contains(got, want[len(want)-1]))
	}
}

// testUsersSearchErased: an erased visitor is found by no search, of the
// users or the sessions; the others still are.
func testUsersSearchErased(t *testing.T, open func(testing.TB) AdminEngine) {
	f := seedFixture(t, open)
	ctx := context.Background()
	if _, err := f.s.EraseVisitor(ctx, v5); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		q    string
		want []string
	}{
		{"anna", nil},
		{"+49 30 765", nil},
		{"lee", []string{v4}},
		{"01JAAAAAAAAAAAAAAAAAAAAAA5", nil},
	} {
		if got := allUsers(t, f.s, storage.UserQuery{Q: tt.q}); !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %v, want %v", tt.q, got, tt.want)
		}
		if got := allSessions(t, f.s, storage.SessionQuery{Q: tt.q}); len(got) != len(tt.want) {
			t.Errorf("%q: %d sessions, want %d", tt.q, len(got), len(tt.want))
		}
	}
}

func testVisitorSessionsFilters(t *testing.T, open func(testing.TB) AdminEngine) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, open, 11, 30, end)
	ctx := context.Background()
	from := end.AddDate(0, -7, 0)
	for vid := range f.visitors {
		for mask := range byte(8) {
			var want []string
			for _, s := range f.sessions {
				if s.VisitorID == vid && inPeriod(s.LastActivityAt, from, time.Time{}) && flags(s)&mask == mask {
					want = append(want, position(s.LastActivityAt, s.ID))
				}
			}
			slices.Sort(want)
			slices.Reverse(want)
			var got []string
			q := storage.VisitorSessionQuery{VisitorID: vid, From: from, Flags: mask, Limit: 1}
			for {
				p, err := f.s.VisitorSessions(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range p.Items {
					got = append(got, position(s.LastActivityAt, s.ID))
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
