package contract

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// IdentifyOverviewEngine is what TestIdentifyOverview needs: the admin
// views (and their fixtures' write path) and identify.
type IdentifyOverviewEngine interface {
	AdminEngine
	Identify(ctx context.Context, req storage.IdentifyRequest) (*storage.IdentifyResult, error)
	Usage(ctx context.Context, q storage.UsageQuery) (*storage.UsageReport, error)
}

// TestIdentifyOverview identifies two thirds of a random fixture's
// visitors as one of a few users, so that most users' browsers are
// merged, some right after a turn, and checks every users overview, each
// visitor's sessions and rollups and the search against the records as
// the model moves them; the usage report does not move.
func TestIdentifyOverview(t *testing.T, open func(testing.TB) IdentifyOverviewEngine) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, func(tb testing.TB) AdminEngine { return open(tb) }, 23, 60, end)
	s := f.s.(IdentifyOverviewEngine)
	ctx := context.Background()
	usage := func() *storage.UsageReport {
		u, err := s.Usage(ctx, storage.UsageQuery{From: end.AddDate(-2, 0, 0), To: end.AddDate(0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	before := usage()
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range f.visitors {
			if !yield(id) {
				return
			}
		}
	})
	r := rand.New(rand.NewPCG(23, 2))
	users := map[string]string{} // user → visitor
	merges := 0
	for i, vid := range ids {
		if i%3 == 2 {
			continue // stays anonymous
		}
		if r.IntN(2) == 0 {
			// A turn right before the identify, from the session as its
			// owner holds it.
			for j, sess := range f.sessions {
				if sess.VisitorID != vid {
					continue
				}
				at := sess.LastActivityAt.Add(time.Minute)
				next, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, Prev: sess, ClientID: "late",
					Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: at, Text: "still here", ClientID: "late"}}})
				if err != nil {
					t.Fatal(err)
				}
				f.sessions[j] = next
				break
			}
		}
		user := fmt.Sprintf("acct%c", 'k'+r.IntN(8)) // one search word
		res, err := s.Identify(ctx, storage.IdentifyRequest{Site: "demo", VisitorID: vid, UserID: user, Channel: "web",
			Profile: storage.ProfileEdit{By: storage.ByIdentify, At: end}})
		if err != nil {
			t.Fatal(err)
		}
		owner, ok := users[user]
		if !ok {
			if res.VisitorID != vid || res.Merged != "" {
				t.Fatalf("first identify of %s: %+v, want it to claim %s", user, res, vid)
			}
			users[user] = vid
			continue
		}
		if res.VisitorID != owner || res.Merged != vid {
			t.Fatalf("identify %s as %s: %+v, want a merge into %s", vid, user, res, owner)
		}
		merges++
		var moved []string
		for _, sess := range f.sessions {
			if sess.VisitorID == vid {
				sess.VisitorID = owner
				moved = append(moved, sess.ID)
			}
		}
		slices.Sort(moved)
		if got := slices.Sorted(slices.Values(res.Sessions)); !slices.Equal(got, moved) {
			t.Errorf("merge of %s moved %v, want %v", vid, got, moved)
		}
		delete(f.visitors, vid)
	}
	if merges < 10 {
		t.Fatalf("only %d merges: the fixture does not exercise them", merges)
	}

	periods := [][2]time.Time{{}, {end.AddDate(0, -6, 0), time.Time{}}, {end.AddDate(0, -8, 0), end.AddDate(0, -2, 0)}}
	for mask := range byte(8) {
		for pi, p := range periods {
			for _, limit := range []int{1, 7, 500} {
				got := allUsers(t, s, storage.UserQuery{From: p[0], To: p[1], Flags: mask, Limit: limit})
				if want := f.wantUsers(p[0], p[1], mask); !slices.Equal(got, want) {
					t.Errorf("mask %d period %d limit %d: got %v\nwant %v", mask, pi, limit, got, want)
				}
			}
		}
	}
	for vid := range f.visitors {
		var want []string
		var seen, interaction time.Time
		for _, sess := range f.sessions {
			if sess.VisitorID == vid {
				want = append(want, sess.ID)
				seen, interaction = ppLater(seen, sess.LastActivityAt), ppLater(interaction, sess.LastInteractionAt)
			}
		}
		p, err := s.VisitorSessions(ctx, storage.VisitorSessionQuery{VisitorID: vid, Limit: storage.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sess := range p.Items {
			got = append(got, sess.ID)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("visitor %s: sessions %v, want %v", vid, got, want)
		}
		v, err := s.Visitor(ctx, vid)
		if err != nil {
			t.Fatal(err)
		}
		// (To the microsecond: what every engine keeps of a time.)
		if us := time.Microsecond; !v.LastSeenAt.Truncate(us).Equal(seen.Truncate(us)) || !v.LastInteractionAt.Truncate(us).Equal(interaction.Truncate(us)) {
			t.Errorf("visitor %s: last seen %v, interaction %v; want %v, %v", vid, v.LastSeenAt, v.LastInteractionAt, seen, interaction)
		}
	}
	for user, vid := range users {
		if got := allUsers(t, s, storage.UserQuery{Q: user}); !slices.Equal(got, []string{vid}) {
			t.Errorf("search %s: %v, want %s", user, got, vid)
		}
	}
	if after := usage(); after.Total != before.Total || !slices.Equal(after.Days, before.Days) {
		t.Errorf("usage moved: %d sessions, want %d", after.Total, before.Total)
	}
}
