package storage_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/storagetest"
)

// The funnel's counters against the model through every writer are the
// contract suite's (contract.TestFunnel, contract_funnel_test.go); what
// is left here is the Badger engine's own: a crash between turns and
// their fold, and a store written before the counters.

// openFunnel opens the store in dir with the fold held back, so that
// turns wait for it.
func openFunnel(t *testing.T, dir string) *storage.Store {
	t.Helper()
	s, err := storage.Open(dir, storage.Options{IndexDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFunnel_CountersSurviveACrashBeforeTheFold: turns that reached blocks
// and goals days after their sessions' start and were committed, not
// folded, when the process died count after the restart.
func TestFunnel_CountersSurviveACrashBeforeTheFold(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 1))
	dir := t.TempDir()
	s := openFunnel(t, dir)
	f := contract.NewFunnelFixture(t, s, r, 8)
	for i := range f.Sessions {
		if i%4 == 1 {
			f.LaterTurn(t, r, i)
		}
	}
	if s.PendingDeltas() == 0 {
		t.Fatal("no turn waits for its fold: the crash loses nothing")
	}
	storage.DieWithoutFolding(t, s)
	s = openFunnel(t, dir)
	defer s.Close()
	f.E = s
	f.Check(t, r)
}

// TestFunnel_BuildCounters: a store written before the counters gets them
// from BuildIndexes, once (meta/funnel), and its funnel stays exact.
func TestFunnel_BuildCounters(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(16, 1))
	s := openFunnel(t, t.TempDir())
	defer s.Close()
	f := contract.NewFunnelFixture(t, s, r, 4)
	if _, err := s.BuildIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	// What a store of a Parley before the counters holds: none, no marker.
	if err := s.DB().DropPrefix([]byte("uf/"), []byte("uh/"), []byte("meta/funnel")); err != nil {
		t.Fatal(err)
	}
	if n := storagetest.CountKeys(t, s, "uf/", "uh/"); len(n) != 0 {
		t.Fatalf("counters left: %v", n)
	}
	if _, err := s.BuildIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if n := storagetest.CountKeys(t, s, "uf/", "uh/"); n["uf/"] == 0 || n["uh/"] == 0 {
		t.Fatalf("BuildIndexes wrote the counters %v", n)
	}
	if n, err := s.BuildFunnelCounts(ctx); err != nil || n != 0 {
		t.Errorf("second build: %d sessions counted, %v; want nothing to do", n, err)
	}
	f.Check(t, r)
}
