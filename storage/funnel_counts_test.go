package storage

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The funnel's counters through the engine's public paths are tested in
// funnel_model_test.go; these look at what only the package sees.

// TestFunnel_CountsEncoding: a cell's counts survive their encoding,
// negative ones included, and a cut value is an error.
func TestFunnel_CountsEncoding(t *testing.T) {
	m := map[string]int64{"all": 3, "blk=a%2Fb": -2, "goal": 0, "goal=lead": 1 << 40}
	b := encodeFunnelCounts(m)
	got := map[string]int64{}
	if err := decodeFunnelCounts(b, got); err != nil {
		t.Fatal(err)
	}
	delete(m, "goal") // zeros are left out
	if fmt.Sprint(got) != fmt.Sprint(m) {
		t.Errorf("got %v, want %v", got, m)
	}
	if err := decodeFunnelCounts(b[:len(b)-1], map[string]int64{}); err == nil {
		t.Error("a cut value decoded")
	}
}

// TestBulk_FunnelCountersOfManyHours: a bulk load whose sessions fill more
// hours' counters than one transaction holds closes, and its counters are
// the sessions'.
func TestBulk_FunnelCountersOfManyHours(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{memTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bulk := s.NewBulk()
	for i := range 3000 {
		at := t0.Add(time.Duration(i) * time.Hour)
		v := &Visitor{ID: NewID(at), Site: "demo", Channel: "web", CreatedAt: at}
		sess := &Session{ID: NewID(at), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: at,
			State: State{Current: "welcome", Reached: []string{"welcome", fmt.Sprintf("block %d", i%7)}}}
		if err := bulk.Add(v, []BulkSession{{Session: sess}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := bulk.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Problems {
		t.Errorf("verify: %s", p)
	}
	if r.Sessions != 3000 {
		t.Errorf("%d sessions, want 3000", r.Sessions)
	}
}
