package server

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// TestLifecycle_Schedule: a serving Parley sweeps on its own schedule and
// Shutdown stops the loops before the store closes.
func TestLifecycle_Schedule(t *testing.T) {
	defer func(d, i, g time.Duration) { sweepDelay, sweepInterval, gcInterval = d, i, g }(sweepDelay, sweepInterval, gcInterval)
	sweepDelay, sweepInterval, gcInterval = 20*time.Millisecond, 20*time.Millisecond, 10*time.Millisecond

	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s, err := Open(Config{DataDir: t.TempDir(), AdminToken: "lifecycle-test-token-0123456789abcdef", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old := now.Add(-40 * 24 * time.Hour)
	v := &storage.Visitor{ID: storage.NewID(old), Site: "demo", Channel: "web", CreatedAt: old, LastSeenAt: old}
	sess := &storage.Session{ID: storage.NewID(old), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: old}
	if err := s.Store.StartSession(ctx, v, sess, nil); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := s.Store.Visitor(ctx, v.ID)
		if errors.Is(err, storage.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the visitor of 40 days ago is still there: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
