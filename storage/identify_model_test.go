package storage

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestIdentify_MergeMatchesBruteForce identifies two thirds of a random
// fixture's visitors as one of a few users, so that most users' browsers
// are merged, some with a turn still unfolded, and checks every overview
// and count against the records as the model moves them.
func TestIdentify_MergeMatchesBruteForce(t *testing.T) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, 23, 60, end)
	ctx := context.Background()
	usage := func() *UsageReport {
		u, err := f.s.Usage(ctx, UsageQuery{From: end.AddDate(-2, 0, 0), To: end.AddDate(0, 0, 1)})
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
	users := map[string]string{} // user -> visitor
	merges := 0
	for i, vid := range ids {
		if i%3 == 2 {
			continue // stays anonymous
		}
		if r.IntN(2) == 0 {
			// A turn the merge finds committed but not folded yet.
			for j, s := range f.sessions {
				if s.VisitorID != vid {
					continue
				}
				at := s.LastActivityAt.Add(time.Minute)
				next, _, _, err := f.s.RecordTurn(ctx, &Turn{SessionID: s.ID, Prev: s, ClientID: "late",
					Messages: []Message{{From: FromVisitor, Kind: KindText, At: at, Text: "still here"}}})
				if err != nil {
					t.Fatal(err)
				}
				f.sessions[j] = next
				break
			}
		}
		user := fmt.Sprintf("acct%c", 'k'+r.IntN(8)) // one search word
		res, err := f.s.Identify(ctx, IdentifyRequest{Site: "demo", VisitorID: vid, UserID: user, Channel: "web",
			Profile: ProfileEdit{By: ByIdentify, At: end}})
		if err != nil {
			t.Fatal(err)
		}
		if owner, ok := users[user]; ok {
			if res.VisitorID != owner || res.Merged != vid {
				t.Fatalf("identify %s as %s: %+v, want a merge into %s", vid, user, res, owner)
			}
			merges++
			var moved []string
			for _, s := range f.sessions {
				if s.VisitorID == vid {
					s.VisitorID = owner
					moved = append(moved, s.ID)
				}
			}
			slices.Sort(moved)
			if got := slices.Sorted(slices.Values(res.Sessions)); !slices.Equal(got, moved) {
				t.Errorf("merge of %s moved %v, want %v", vid, got, moved)
			}
			delete(f.visitors, vid)
		} else {
			if res.VisitorID != vid || res.Merged != "" {
				t.Fatalf("first identify of %s: %+v, want it to claim %s", user, res, vid)
			}
			users[user] = vid
		}
	}
	if merges < 10 {
		t.Fatalf("only %d merges: the fixture does not exercise them", merges)
	}

	periods := [][2]time.Time{{}, {end.AddDate(0, -6, 0), time.Time{}}, {end.AddDate(0, -8, 0), end.AddDate(0, -2, 0)}}
	for mask := range byte(8) {
		for pi, p := range periods {
			for _, limit := range []int{1, 7, 500} {
				got := allUsers(t, f.s, UserQuery{From: p[0], To: p[1], Flags: mask, Limit: limit})
				if want := f.wantUsers(p[0], p[1], mask); !slices.Equal(got, want) {
					t.Errorf("mask %d period %d limit %d: got %v\nwant %v", mask, pi, limit, got, want)
				}
			}
		}
	}
	for vid := range f.visitors {
		var want []string
		var seen, interaction time.Time
		for _, s := range f.sessions {
			if s.VisitorID == vid {
				want = append(want, s.ID)
				seen, interaction = laterOf(seen, s.LastActivityAt), laterOf(interaction, s.LastInteractionAt)
			}
		}
		p, err := f.s.VisitorSessions(ctx, VisitorSessionQuery{VisitorID: vid, Limit: MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range p.Items {
			got = append(got, s.ID)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("visitor %s: sessions %v, want %v", vid, got, want)
		}
		v, err := f.s.Visitor(ctx, vid)
		if err != nil {
			t.Fatal(err)
		}
		if !v.LastSeenAt.Equal(seen) || !v.LastInteractionAt.Equal(interaction) {
			t.Errorf("visitor %s: last seen %v, interaction %v; want %v, %v", vid, v.LastSeenAt, v.LastInteractionAt, seen, interaction)
		}
	}
	for user, vid := range users {
		if got := allUsers(t, f.s, UserQuery{Q: user}); !slices.Equal(got, []string{vid}) {
			t.Errorf("search %s: %v, want %s", user, got, vid)
		}
	}
	rep, err := f.s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The fixture's messages carry no client IDs: Verify's ack check
	// does not apply to them.
	rep.Problems = slices.DeleteFunc(rep.Problems, func(p string) bool { return strings.Contains(p, "messages with this client ID") })
	if len(rep.Problems) > 0 || rep.Visitors != len(f.visitors) || rep.Sessions != len(f.sessions) {
		t.Errorf("verify: %d visitors, %d sessions (want %d, %d), problems %v", rep.Visitors, rep.Sessions, len(f.visitors), len(f.sessions), rep.Problems)
	}
	if after := usage(); after.Total != before.Total || !slices.Equal(after.Days, before.Days) {
		t.Errorf("usage moved: %d sessions, want %d", after.Total, before.Total)
	}
}

// TestIdentify_MergeTooLarge: a browser's visitor with more history than
// one transaction may move is not merged (a merge is atomic or not at
// all): the browser switches to the user's visitor and its own history
// stays whole.
func TestIdentify_MergeTooLarge(t *testing.T) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, 29, 4, end)
	ctx := context.Background()
	ids := slices.Sorted(maps.Keys(f.visitors))
	at := ProfileEdit{By: ByIdentify, At: end}
	if _, err := f.s.Identify(ctx, IdentifyRequest{Site: "demo", VisitorID: ids[0], UserID: "acct", Profile: at}); err != nil {
		t.Fatal(err)
	}
	f.s.batchBytes = 2048 // as a store whose transactions hold this little
	res, err := f.s.Identify(ctx, IdentifyRequest{Site: "demo", VisitorID: ids[1], UserID: "acct", Profile: at})
	if err != nil {
		t.Fatal(err)
	}
	if res.VisitorID != ids[0] || res.Merged != "" || !res.TooLarge {
		t.Errorf("got %+v, want a switch to %s without a merge", res, ids[0])
	}
	if v, err := f.s.Visitor(ctx, ids[1]); err != nil || v.PlatformID != "" {
		t.Errorf("the browser's own visitor: %+v %v, want it whole and anonymous", v, err)
	}
	if got := allUsers(t, f.s, UserQuery{}); !slices.Equal(got, f.wantUsers(time.Time{}, time.Time{}, 0)) {
		t.Errorf("overview changed: %v", got)
	}
}
