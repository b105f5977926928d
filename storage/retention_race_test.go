package storage

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestSweepRetention_VisitorComesBack: a visitor long gone sends a message
// while the sweep is deciding to erase it. The message was acked, so the
// visitor must be kept, with it.
func TestSweepRetention_VisitorComesBack(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	long := now.Add(-60 * 24 * time.Hour)
	v := &Visitor{ID: NewID(long), Site: "demo", Channel: "web", CreatedAt: long}
	sess := &Session{ID: NewID(long), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: long}
	if err := s.CreateSession(ctx, v, sess); err != nil {
		t.Fatal(err)
	}

	var once sync.Once
	var ack Ack
	var turnErr error
	fenceHook = func(id string) {
		// The sweep has read the visitor as last seen 60 days ago; now it
		// comes back before the sweep acts on that.
		once.Do(func() {
			_, ack, _, turnErr = s.RecordTurn(ctx, &Turn{SessionID: sess.ID, ClientID: "c1", Messages: []Message{
				{From: FromVisitor, Kind: KindText, At: now, Text: "I'm back", ClientID: "c1"},
			}})
		})
	}
	defer func() { fenceHook = nil }()

	res, err := s.SweepRetention(ctx, now, Retention{Default: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if turnErr != nil || ack.ID == "" {
		t.Fatalf("the visitor's turn: ack %+v, %v; want it stored", ack, turnErr)
	}
	if res.Visitors != 0 {
		t.Errorf("sweep erased %d visitors, want none: the visitor came back", res.Visitors)
	}
	if _, err := s.Visitor(ctx, v.ID); err != nil {
		t.Fatalf("visitor after the sweep: %v; want it kept", err)
	}
	msgs, err := s.Messages(ctx, sess.ID, 0)
	if err != nil || len(msgs) != 1 || msgs[0].ID != ack.ID {
		t.Fatalf("messages after the sweep: %+v, %v; want the acked one", msgs, err)
	}

	// The next sweep, once the visitor is gone long enough, erases it.
	later := now.Add(31 * 24 * time.Hour)
	if res, err := s.SweepRetention(ctx, later, Retention{Default: 30 * 24 * time.Hour}); err != nil || res.Visitors != 1 {
		t.Fatalf("sweep a month later: %+v, %v; want the visitor erased", res, err)
	}
	if _, err := s.Visitor(ctx, v.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("visitor after the later sweep: %v; want ErrNotFound", err)
	}
}
