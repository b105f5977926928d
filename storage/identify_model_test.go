package storage

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"
)

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
