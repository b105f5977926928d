package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// exportEngine is what TestWriteExport_SameAsBadger writes and exports
// through, on either engine.
type exportEngine interface {
	StartSession(ctx context.Context, v *storage.Visitor, sess *storage.Session, opening *storage.Turn) error
	RecordTurn(ctx context.Context, t *storage.Turn) (*storage.Session, storage.Ack, bool, error)
	WriteExport(ctx context.Context, w io.Writer, visitorID string, at time.Time, download func(f *storage.File) string) error
	EditProfile(ctx context.Context, visitorID string, e storage.ProfileEdit) (*storage.Visitor, error)
	AddNote(ctx context.Context, n *storage.Note) error
	UpdateConversation(ctx context.Context, sid string, now time.Time, fn func(c *storage.Conversation)) (*storage.Conversation, error)
}

// TestWriteExport_SameAsBadger: the same visitor recorded the same way in
// both engines (sessions, messages, inputs, a file, a profile edit, an
// agent's note and the inbox's record) exports as the same bytes, but for
// the message and note IDs each engine gives.
func TestWriteExport_SameAsBadger(t *testing.T) {
	ctx := context.Background()
	badger, err := storage.Open(t.TempDir(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer badger.Close()
	pg, err := postgres.Open(ctx, postgrestest.URL(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()

	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	vid, fid := storage.NewID(t0), storage.NewID(t0.Add(time.Minute))
	sids := []string{storage.NewID(t0), storage.NewID(t0.Add(time.Hour))}
	put := map[exportEngine]func(f *storage.File, r io.Reader) error{
		badger: func(f *storage.File, r io.Reader) error {
			return storage.NewFiles(badger).Put(ctx, f, r, storage.Quota{})
		},
		pg: func(f *storage.File, r io.Reader) error { return postgres.NewFiles(pg).Put(ctx, f, r, storage.Quota{}) },
	}
	var docs []string
	for _, e := range []exportEngine{badger, pg} {
		for i, sid := range sids {
			at := t0.Add(time.Duration(i) * time.Hour)
			v := &storage.Visitor{ID: vid, Site: "demo", Channel: "web", CreatedAt: t0, LastSeenAt: at,
				Device: storage.Device{OS: "Linux", Browser: "Firefox 121"}}
			sess := &storage.Session{ID: sid, Site: "demo", VisitorID: vid, Bot: "demo", Version: "2", Channel: "web",
				Device: v.Device, Page: "https://example.org/pricing", Lang: "de", StartedAt: at}
			opening := &storage.Turn{Messages: []storage.Message{{From: storage.FromBot, Kind: storage.KindBot, At: at, Text: "Hallo!", Block: "menu",
				Options: []storage.Option{{ID: "demo", Label: "Demo"}}}}, State: &storage.State{Current: "menu", Reached: []string{"menu"}}}
			if err := e.StartSession(ctx, v, sess, opening); err != nil {
				t.Fatal(err)
			}
			st := storage.State{Current: "ask_email", Previous: "menu", Reached: []string{"menu", "ask_email"},
				Variables: map[string]string{"email": "ada@example.org"}, Goals: []string{"lead"}, Tags: []string{"de"}}
			turn := &storage.Turn{SessionID: sid, ClientID: "c1", State: &st,
				Messages: []storage.Message{
					{From: storage.FromVisitor, Kind: storage.KindChoice, At: at.Add(time.Second), Block: "menu", Option: "demo", Text: "Demo", ClientID: "c1"},
					{From: storage.FromVisitor, Kind: storage.KindInput, At: at.Add(2 * time.Second), Block: "ask_email", Text: "ada@example.org", Value: "ada@example.org"},
				},
				Inputs: []storage.Input{{Block: "ask_email", Variable: "email", Kind: "email", Value: "ada@example.org", At: at.Add(2 * time.Second)}}}
			if _, _, _, err := e.RecordTurn(ctx, turn); err != nil {
				t.Fatal(err)
			}
		}
		name, notes := "Ada Lovelace", "prefers email"
		if _, err := e.EditProfile(ctx, vid, storage.ProfileEdit{Name: &name, Notes: &notes, By: "admin", At: t0.Add(3 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := e.AddNote(ctx, &storage.Note{Session: sids[0], Agent: "grace", AgentName: "Grace", Text: "called back", At: t0.Add(4 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.UpdateConversation(ctx, sids[0], t0.Add(5*time.Hour), func(c *storage.Conversation) {
			c.Status, c.Assignee = storage.ConversationResolved, "grace"
		}); err != nil {
			t.Fatal(err)
		}
		f := &storage.File{ID: fid, Site: "demo", VisitorID: vid, SessionID: sids[1], Name: "scan.pdf", Type: "application/pdf", UploadedAt: t0.Add(time.Minute)}
		if err := put[e](f, strings.NewReader("%PDF-1.4 scan")); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := e.WriteExport(ctx, &buf, vid, t0.Add(48*time.Hour), func(f *storage.File) string { return "/admin/api/files/" + f.ID }); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, withoutMessageIDs(t, buf.String()))
	}
	if docs[0] != docs[1] {
		t.Errorf("the exports differ:\nBadger:\n%s\nPostgreSQL:\n%s", docs[0], docs[1])
	}
}

// withoutMessageIDs replaces each message's and note's ID in the export
// with its place in the document: what engines write differently.
func withoutMessageIDs(tb testing.TB, doc string) string {
	tb.Helper()
	type withID struct {
		ID string `json:"id"`
	}
	var d struct {
		Sessions []struct {
			Messages []withID `json:"messages"`
			Notes    []withID `json:"notes"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		tb.Fatalf("export is not JSON: %v\n%s", err, doc)
	}
	n := 0
	for _, s := range d.Sessions {
		for _, m := range append(s.Messages, s.Notes...) {
			doc = strings.ReplaceAll(doc, `"`+m.ID+`"`, fmt.Sprintf(`"message-%d"`, n))
			n++
		}
	}
	return doc
}
