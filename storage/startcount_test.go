package storage

import (
	"context"
	"testing"
	"time"
)

// TestStartSession_CountedBehind: a new session takes no lock of the usage
// counters and reads none; it is added to them behind its start, a read
// that needs them exact counts what is pending first, and a crash before
// the count loses nothing.
func TestStartSession_CountedBehind(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	day := UsageQuery{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}
	stopCounting(s) // only reads count from here on

	// The counters' writers (Bulk) hold usageMu: a start does not wait.
	s.usageMu.Lock()
	started := make(chan struct{})
	go func() {
		ownedSessions(t, s, 5, t0)
		close(started)
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("new sessions waited for the usage counters' lock")
	}
	s.usageMu.Unlock()
	if n := countKeys(t, s, "uq/"); n != 5 {
		t.Fatalf("%d sessions waiting to be counted, want 5", n)
	}
	if n := countKeys(t, s, "u/"); n != 0 {
		t.Fatalf("%d usage counters written by the starts themselves, want 0", n)
	}
	if rep, err := s.Usage(ctx, day); err != nil || rep.Total != 5 {
		t.Fatalf("usage: %+v, %v; want the 5 pending sessions counted", rep, err)
	}
	if n := countKeys(t, s, "uq/"); n != 0 {
		t.Fatalf("%d marks left after the count", n)
	}

	// Three more, and the process dies before they are counted.
	ownedSessions(t, s, 3, t0)
	if n := countKeys(t, s, "uq/"); n != 3 {
		t.Fatalf("%d sessions waiting to be counted, want 3", n)
	}
	dieWithoutFolding(t, s)
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rep, err := s.Usage(ctx, day); err != nil || rep.Total != 8 {
		t.Fatalf("usage after the restart: %+v, %v; want 8", rep, err)
	}
	if rep, err := s.Verify(ctx); err != nil || len(rep.Problems) > 0 {
		t.Fatalf("verify: %v %v", rep.Problems, err)
	}
	if n := countKeys(t, s, "uq/"); n != 0 {
		t.Fatalf("%d marks left after the restart's count", n)
	}
}
