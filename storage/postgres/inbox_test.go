package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestInboxIn: what an export reads of a session's inbox: no record
// until an agent touched it (unlike Conversation's default), then the
// record and the notes.
func TestInboxIn(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, postgrestest.URL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	v := &storage.Visitor{ID: storage.NewID(at), Site: "demo", CreatedAt: at, LastSeenAt: at}
	sess := &storage.Session{ID: storage.NewID(at), Site: "demo", VisitorID: v.ID, Bot: "demo", StartedAt: at, LastActivityAt: at}
	if err := st.CreateVisitor(ctx, v); err != nil {
		t.Fatal(err)
	}
	if err := putSession(ctx, st.pool, sess, 0); err != nil {
		t.Fatal(err)
	}
	if conv, notes, err := inboxIn(ctx, st.pool, sess.ID); conv != nil || notes != nil || err != nil {
		t.Errorf("untouched: %+v %+v %v, want nothing", conv, notes, err)
	}
	if _, err := st.UpdateConversation(ctx, sess.ID, at, func(c *storage.Conversation) { c.Assignee = "ana" }); err != nil {
		t.Fatal(err)
	}
	if err := st.AddNote(ctx, &storage.Note{Session: sess.ID, Agent: "ana", Text: "call back", At: at}); err != nil {
		t.Fatal(err)
	}
	conv, notes, err := inboxIn(ctx, st.pool, sess.ID)
	if err != nil || conv == nil || conv.Assignee != "ana" || len(notes) != 1 || notes[0].Text != "call back" {
		t.Errorf("got %+v %+v %v", conv, notes, err)
	}
}
