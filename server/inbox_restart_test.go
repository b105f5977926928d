package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

// TestInbox_SurvivesRestart: unread marks, open/resolved, assignment and
// private notes are in the store, and a restart keeps them (and the
// conversation's hand-over).
func TestInbox_SurvivesRestart(t *testing.T) { testInboxSurvivesRestart(t, "") }

// TestPostgres_InboxSurvivesRestart is TestInbox_SurvivesRestart with
// the records in PostgreSQL (--store).
func TestPostgres_InboxSurvivesRestart(t *testing.T) {
	testInboxSurvivesRestart(t, postgrestest.URL(t))
}

// testInboxSurvivesRestart runs the inbox across a restart on the store
// (a PostgreSQL URL, or "" for Badger in a data directory).
func testInboxSurvivesRestart(t *testing.T, store string) {
	dir := t.TempDir()
	cfg := server.Config{DataDir: dir, Store: store, AdminToken: adminToken, Sites: []*widget.Site{hoSite(t, time.Hour)}}
	open := func() (*server.Server, *httptest.Server) {
		s, err := server.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s, httptest.NewServer(s.Handler())
	}
	s, ts := open()
	anaSecret := hoAddAgent(t, ts.URL, adminToken, "ana", "Ana Lopez")
	hoAddAgent(t, ts.URL, adminToken, "bo", "Bo")
	ana := hoAgentClient(t, ts.URL, "ana", anaSecret)

	v := widgettest.MustDial(t, widgettest.URL(ts.URL, "demo"), widgettest.Options{Origin: testOrigin})
	w := v.MustHello(widgettest.Hello{})
	sid := w.Session
	v.UntilPrompt("hi")
	v.MustChoice("c1", "hi", "person")
	v.Expect(widgettest.TypeAck)
	path := "/admin/api/sessions/" + sid
	call := func(c *http.Client, method, p string, body any, want int) []byte {
		t.Helper()
		status, b := hoCall(t, c, method, ts.URL+p, "", body)
		if status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, p, status, b, want)
		}
		return b
	}
	call(ana, "POST", path+"/take", map[string]any{}, 200)
	call(ana, "POST", path+"/messages", map[string]string{"text": "I'm here, one moment."}, 201)
	call(ana, "POST", path+"/read", map[string]any{}, 204)
	v.MustText("c2", "Are you there?") // unread for Ana again
	v.Until(widgettest.TypeAck)
	call(ana, "POST", path+"/notes", map[string]string{"text": "Regular customer, owns two bikes."}, 201)
	call(ana, "POST", path+"/conversation", map[string]string{"assignee": "bo"}, 200)
	t.Run("BadInput", func(t *testing.T) {
		call(ana, "POST", path+"/conversation", map[string]string{"status": "done"}, 400)
		call(ana, "POST", path+"/conversation", map[string]string{"assignee": "nobody"}, 400)
		call(ana, "POST", path+"/notes", map[string]string{"text": " "}, 400)
		call(ana, "POST", "/admin/api/sessions/01JAAAAAAAAAAAAAAAAAAAAAAA/notes", map[string]string{"text": "x"}, 404)
	})
	v.Close()
	ts.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, ts = open()
	defer func() { ts.Close(); s.Close() }()
	ana = hoAgentClient(t, ts.URL, "ana", anaSecret)
	var conv struct {
		Status, Assignee string
		Notes            []struct{ Text, AgentName string }
	}
	json.Unmarshal(call(ana, "GET", path+"/conversation", nil, 200), &conv)
	if conv.Status != "open" || conv.Assignee != "bo" || len(conv.Notes) != 1 || conv.Notes[0].AgentName != "Ana Lopez" || !strings.Contains(conv.Notes[0].Text, "two bikes") {
		t.Errorf("after a restart: %+v", conv)
	}
	in := inboxOf(t, ana, ts.URL, "")
	if len(in.Held) != 1 || in.Held[0].Agent != "ana" || !in.Held[0].Unread || in.Held[0].Assignee != "bo" {
		t.Errorf("inbox after a restart: %+v", in)
	}
	t.Run("Export", func(t *testing.T) {
		// Everything of the visitor, the agent's messages and the notes too.
		status, body := hoCall(t, nil, "GET", ts.URL+"/admin/api/users/"+w.Visitor+"/export", adminToken, nil)
		for _, want := range []string{`"from": "agent"`, `"agentName": "Ana Lopez"`, "two bikes", `"assignee": "bo"`} {
			if status != 200 || !strings.Contains(string(body), want) {
				t.Errorf("export (%d) lacks %s:\n%.2000s", status, want, body)
			}
		}
	})
	call(ana, "POST", path+"/read", map[string]any{}, 204)
	call(ana, "POST", path+"/close", map[string]any{}, 204)
	call(ana, "POST", path+"/conversation", map[string]string{"status": "resolved"}, 200)
	if in := inboxOf(t, ana, ts.URL, ""); len(in.Held)+len(in.Waiting)+len(in.Open) != 0 {
		t.Errorf("inbox after close and resolve: %+v", in)
	}
	json.Unmarshal(call(ana, "GET", path+"/conversation", nil, 200), &conv)
	if conv.Status != "resolved" {
		t.Errorf("status %q", conv.Status)
	}
}
