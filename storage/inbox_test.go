package storage_test

import (
	"context"
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
	t.Run("ErasedWithTheVisitor", func(t *testing.T) {
		// (The records themselves: storage/contract's inbox suite.)
		if _, err := s.UpdateConversation(ctx, sess.ID, t0, func(c *storage.Conversation) { c.Assignee = "ana" }); err != nil {
			t.Fatal(err)
		}
		if err := s.AddNote(ctx, &storage.Note{Session: sess.ID, Agent: "ana", Text: "first", At: t0}); err != nil {
			t.Fatal(err)
		}
		if n := storagetest.CountKeys(t, s, "cm/", "co/", "cn/"); len(n) != 3 {
			t.Fatalf("inbox keys before the erase: %v", n)
		}
		if _, err := s.EraseVisitor(ctx, sess.VisitorID); err != nil {
			t.Fatal(err)
		}
		if n := storagetest.CountKeys(t, s, "cm/", "co/", "cn/", "ho/"); len(n) != 0 {
			t.Errorf("left after erase: %v", n)
		}
	})
}
