package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/storagetest"
)

func TestInbox_Records(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sess := mustSession(t, s, storage.NewID(t0), t0)
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Second)
		if _, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, Messages: []storage.Message{{From: storage.FromBot, Kind: storage.KindBot, At: at, Text: fmt.Sprint(i)}}}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("LatestMessages", func(t *testing.T) {
		msgs, err := s.LatestMessages(ctx, sess.ID, 3)
		if err != nil || len(msgs) != 3 || msgs[0].Text != "4" || msgs[2].Text != "2" {
			t.Errorf("got %+v, %v: want 4, 3, 2", msgs, err)
		}
		if msgs, _ := s.LatestMessages(ctx, "01JAAAAAAAAAAAAAAAAAAAAAAA", 3); len(msgs) != 0 {
			t.Errorf("another session's: %+v", msgs)
		}
	})
	t.Run("OpenUntilResolved", func(t *testing.T) {
		c, err := s.UpdateConversation(ctx, sess.ID, t0, func(c *storage.Conversation) { c.Assignee = "ana" })
		if err != nil || c.Status != storage.ConversationOpen {
			t.Fatalf("%+v %v", c, err)
		}
		if l, _ := s.Conversations(ctx); len(l) != 1 || l[0].Assignee != "ana" {
			t.Errorf("open: %+v", l)
		}
		s.UpdateConversation(ctx, sess.ID, t0, func(c *storage.Conversation) { c.Status = storage.ConversationResolved })
		if l, _ := s.Conversations(ctx); len(l) != 0 {
			t.Errorf("resolved still listed: %+v", l)
		}
		if _, err := s.UpdateConversation(ctx, "01JAAAAAAAAAAAAAAAAAAAAAAA", t0, func(*storage.Conversation) {}); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("unknown session: %v", err)
		}
	})
	t.Run("Notes", func(t *testing.T) {
		for _, text := range []string{"first", "second"} {
			if err := s.AddNote(ctx, &storage.Note{Session: sess.ID, Agent: "ana", Text: text, At: t0}); err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := s.Notes(ctx, sess.ID); len(n) != 2 || n[0].Text != "first" {
			t.Errorf("notes %+v", n)
		}
		if err := s.AddNote(ctx, &storage.Note{Session: "01JAAAAAAAAAAAAAAAAAAAAAAA", Text: "x", At: t0}); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("note on an unknown session: %v", err)
		}
	})
	t.Run("ErasedWithTheVisitor", func(t *testing.T) {
		s.UpdateConversation(ctx, sess.ID, t0, func(c *storage.Conversation) { c.Status = storage.ConversationOpen })
		if _, err := s.EraseVisitor(ctx, sess.VisitorID); err != nil {
			t.Fatal(err)
		}
		if n := storagetest.CountKeys(t, s, "cm/", "co/", "cn/", "ho/"); len(n) != 0 {
			t.Errorf("left after erase: %v", n)
		}
	})
}
