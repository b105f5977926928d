package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// TestStartSession_WithOpening: a new session and its opening messages are
// one write: both are stored, or (here: an opening past the size cap)
// neither, and no empty session is left to be resumed later.
func TestStartSession_WithOpening(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	newOne := func() (*storage.Visitor, *storage.Session) {
		v := &storage.Visitor{ID: storage.NewID(t0), Site: "demo", Channel: "web", CreatedAt: t0}
		return v, &storage.Session{ID: storage.NewID(t0), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: t0}
	}

	t.Run("Stored", func(t *testing.T) {
		v, sess := newOne()
		st := storage.State{Current: "welcome", Reached: []string{"welcome"}}
		opening := &storage.Turn{Messages: []storage.Message{
			{From: storage.FromBot, Kind: storage.KindBot, At: t0, Text: "Hi!", Block: "welcome"},
			{From: storage.FromBot, Kind: storage.KindBot, At: t0, Text: "What brings you here?", Block: "menu"},
		}, State: &st, Touch: t0}
		if err := s.StartSession(ctx, v, sess, opening); err != nil {
			t.Fatal(err)
		}
		if sess.MessageCount != 2 || sess.State.Current != "welcome" || opening.Messages[0].ID == "" {
			t.Fatalf("session after start: count %d state %+v, opening IDs %q", sess.MessageCount, sess.State, opening.Messages[0].ID)
		}
		got, err := s.Session(ctx, sess.ID)
		if err != nil || got.MessageCount != 2 || got.State.Current != "welcome" {
			t.Fatalf("stored session: %+v, %v", got, err)
		}
		msgs, err := s.Messages(ctx, sess.ID, 0)
		if err != nil || len(msgs) != 2 || msgs[0].Text != "Hi!" || msgs[1].ID != opening.Messages[1].ID {
			t.Fatalf("stored messages: %+v, %v", msgs, err)
		}
		assertSound(t, s)
	})

	t.Run("NothingOnFailure", func(t *testing.T) {
		v, sess := newOne()
		st := storage.State{Variables: map[string]string{"big": strings.Repeat("x", storage.MaxStateBytes)}}
		opening := &storage.Turn{Messages: []storage.Message{{From: storage.FromBot, Kind: storage.KindBot, At: t0, Text: "Hi!"}}, State: &st}
		before := dumpStore(t, s)
		if err := s.StartSession(ctx, v, sess, opening); !errors.Is(err, storage.ErrTooLarge) {
			t.Fatalf("start with an opening past the cap: %v, want ErrTooLarge", err)
		}
		if _, err := s.Session(ctx, sess.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("session after a failed start: %v, want ErrNotFound", err)
		}
		if after := dumpStore(t, s); len(after) != len(before) {
			t.Fatalf("a failed start left %d keys behind", len(after)-len(before))
		}
	})
}
