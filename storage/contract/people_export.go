package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// PeopleExportEngine is what TestPeopleExport needs: the people records,
// a visitor's export and erase.
type PeopleExportEngine interface {
	IdentifyEngine
	InboxEngine
	WriteExport(ctx context.Context, w io.Writer, visitorID string, at time.Time, download func(f *storage.File) string) error
	EraseVisitor(ctx context.Context, id string) (storage.EraseResult, error)
}

// TestPeopleExport: a visitor's export holds what people kept of them
// (agents' notes and inbox records on their conversations, the profile
// changes, oldest first), and nothing of another visitor's; an erase
// leaves none of it, and nothing of the browser merged into them.
func TestPeopleExport(t *testing.T, open func(testing.TB) PeopleExportEngine) {
	ctx := context.Background()
	s := open(t)
	v := ppSeedVisitor(t, s, "demo", ppDay, "Ada", "ada@example.org", 2)
	other := ppSeedVisitor(t, s, "demo", ppDay, "Bo", "bo@example.org", 1)
	name, notes := "Ada Lovelace", "prefers email"
	if _, err := s.EditProfile(ctx, v.ID, storage.ProfileEdit{Name: &name, Notes: &notes, By: "admin", At: ppDay.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ppIdentifyAs(t, s, v.ID, "crm-7", ppDay.Add(2*time.Hour))
	browser := ppSeedVisitor(t, s, "demo", ppDay.Add(time.Hour), "Ada", "ada@example.org", 1)
	ppIdentifyAs(t, s, browser.ID, "crm-7", ppDay.Add(2*time.Hour+time.Minute)) // merged into v
	if _, err := s.UpdateConversation(ctx, v.Sessions[1], ppDay.Add(3*time.Hour), func(c *storage.Conversation) {
		c.Assignee, c.Status = "ana", storage.ConversationResolved
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*storage.Note{{Session: v.Sessions[1], Agent: "ana", AgentName: "Ana", Text: "called back", At: ppDay.Add(3 * time.Hour)},
		{Session: other.Sessions[0], Agent: "ana", AgentName: "Ana", Text: "Bo's note", At: ppDay.Add(3 * time.Hour)}} {
		if err := s.AddNote(ctx, n); err != nil {
			t.Fatal(err)
		}
	}

	var buf bytes.Buffer
	if err := s.WriteExport(ctx, &buf, v.ID, ppDay.Add(4*time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Changes  []storage.ProfileChange `json:"profileChanges"`
		Sessions []storage.ExportSession `json:"sessions"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, buf.String())
	}
	var fields []string
	for _, c := range doc.Changes {
		fields = append(fields, c.Field+"="+c.To)
	}
	if want := "[name=Ada Lovelace notes=prefers email platformId=crm-7 merged=" + v.ID + "]"; fmt.Sprint(fields) != want {
		t.Errorf("profile changes %v, want %s (oldest first)", fields, want)
	}
	if len(doc.Sessions) != 3 {
		t.Fatalf("%d sessions, want 3 (the merged browser's too)", len(doc.Sessions))
	}
	var s1 storage.ExportSession
	for _, es := range doc.Sessions {
		if es.ID == v.Sessions[1] {
			s1 = es
		} else if es.Conversation != nil || len(es.Notes) != 0 {
			t.Errorf("session %s nobody touched: %+v %+v", es.ID, es.Conversation, es.Notes)
		}
	}
	if c := s1.Conversation; c == nil || c.Assignee != "ana" || c.Status != storage.ConversationResolved || !c.UpdatedAt.Equal(ppDay.Add(3*time.Hour)) {
		t.Errorf("inbox record %+v", c)
	}
	if len(s1.Notes) != 1 || s1.Notes[0].Text != "called back" || s1.Notes[0].AgentName != "Ana" {
		t.Errorf("notes %+v", s1.Notes)
	}
	if bytes.Contains(buf.Bytes(), []byte("Bo's note")) {
		t.Error("the export holds another visitor's note")
	}

	t.Run("Erase", func(t *testing.T) {
		if _, err := s.EraseVisitor(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
		for _, sid := range append(v.Sessions, browser.Sessions...) {
			if c, err := s.Conversation(ctx, sid); err != nil || c.Assignee != "" || !c.UpdatedAt.IsZero() {
				t.Errorf("session %s's inbox record after the erase: %+v %v", sid, c, err)
			}
			if n, err := s.Notes(ctx, sid); err != nil || len(n) != 0 {
				t.Errorf("session %s's notes after the erase: %+v %v", sid, n, err)
			}
		}
		if c, err := s.ProfileChanges(ctx, v.ID, 0); err != nil || len(c) != 0 {
			t.Errorf("profile changes after the erase: %+v %v", c, err)
		}
		if id, err := s.PlatformVisitor(ctx, "demo", "crm-7"); err != nil || id != "" {
			t.Errorf("the user's visitor after the erase: %q %v", id, err)
		}
		if into, err := s.MergedInto(ctx, browser.ID); err != nil || into != "" {
			t.Errorf("the merged browser still goes into %q %v", into, err)
		}
		if n, err := s.Notes(ctx, other.Sessions[0]); err != nil || len(n) != 1 {
			t.Errorf("another visitor's notes after the erase: %+v %v", n, err)
		}
	})
}
