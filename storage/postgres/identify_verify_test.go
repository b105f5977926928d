package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestVerify_Merges: a store with a merge has no problems; a merge row
// naming a visitor that is gone, or a merged visitor that is still
// there, is reported.
func TestVerify_Merges(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, postgrestest.URL(t), Options{})
	sessions := startSessions(t, s, 3)
	for _, sess := range sessions[:2] {
		if _, err := s.Identify(ctx, storage.IdentifyRequest{Site: "demo", VisitorID: sess.VisitorID, UserID: "u-1",
			Profile: storage.ProfileEdit{By: storage.ByIdentify, At: t0.Add(time.Minute)}}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Visitors != 2 || r.Sessions != 3 || len(r.Problems) != 0 {
		t.Fatalf("after a merge: %+v", r)
	}
	owner := sessions[0].VisitorID
	for _, m := range [][2]string{{"ghost", "nobody"}, {sessions[2].VisitorID, owner}} {
		if _, err := s.pool.Exec(ctx, `INSERT INTO visitor_merges (from_id, into_id, merged_at) VALUES ($1, $2, $3)`, m[0], m[1], t0); err != nil {
			t.Fatal(err)
		}
	}
	if r, err = s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(r.Problems, "\n")
	for _, want := range []string{"merged visitor ghost: went into nobody, which has no record",
		"merged visitor " + sessions[2].VisitorID + ": went into " + owner + " but still has a record"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems:\n%s\nwant %q", got, want)
		}
	}
	if len(r.Problems) != 2 {
		t.Errorf("%d problems, want 2: %v", len(r.Problems), r.Problems)
	}
}
