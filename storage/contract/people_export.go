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

// PeopleExportEngine is what TestPeopleExport needs: the people records
// and a visitor's export.
type PeopleExportEngine interface {
	IdentifyEngine
	InboxEngine
	WriteExport(ctx context.Context, w io.Writer, visitorID string, at time.Time, download func(f *storage.File) string) error
}

// TestPeopleExport: a visitor's export holds what people kept of them
// (agents' notes and inbox records on their conversations, the profile
// changes, oldest first), and nothing of another visitor's.
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
	if want := "[name=Ada Lovelace notes=prefers email platformId=crm-7]"; fmt.Sprint(fields) != want {
		t.Errorf("profile changes %v, want %s (oldest first)", fields, want)
	}
	if len(doc.Sessions) != 2 {
		t.Fatalf("%d sessions, want 2", len(doc.Sessions))
	}
	if s0 := doc.Sessions[0]; s0.Conversation != nil || len(s0.Notes) != 0 {
		t.Errorf("a session nobody touched: %+v %+v", s0.Conversation, s0.Notes)
	}
	s1 := doc.Sessions[1]
	if c := s1.Conversation; c == nil || c.Assignee != "ana" || c.Status != storage.ConversationResolved || !c.UpdatedAt.Equal(ppDay.Add(3*time.Hour)) {
		t.Errorf("inbox record %+v", c)
	}
	if len(s1.Notes) != 1 || s1.Notes[0].Text != "called back" || s1.Notes[0].AgentName != "Ana" {
		t.Errorf("notes %+v", s1.Notes)
	}
	if bytes.Contains(buf.Bytes(), []byte("Bo's note")) {
		t.Error("the export holds another visitor's note")
	}
}
