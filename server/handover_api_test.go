package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

// sseEvent is one Server-Sent Event of the inbox stream.
type sseEvent struct {
	Name string
	Data widget.Event
}

// hoEvents opens the inbox's event stream through c and returns its events.
func hoEvents(t *testing.T, c *http.Client, base, tok string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/admin/api/inbox/events", nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 64)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(line[len("data: "):]), &ev.Data)
			case line == "" && ev.Name != "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
	return out
}

func hoNext(t *testing.T, ch <-chan sseEvent, name string) widget.Event {
	t.Helper()
	timeout := time.After(3 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.Name == name {
				return ev.Data
			}
		case <-timeout:
			t.Fatalf("no %s event", name)
			return widget.Event{}
		}
	}
}

// inboxOf lists the inbox as c sees it.
func inboxOf(t *testing.T, c *http.Client, base, tok string) (inbox struct {
	Waiting, Held, Open []struct {
		Session, Handover, Agent, AgentName, Status, Assignee string
		Unread                                                bool
		WaitedSeconds                                         int64
	}
}) {
	t.Helper()
	status, body := hoCall(t, c, "GET", base+"/admin/api/inbox", tok, nil)
	if status != 200 {
		t.Fatalf("inbox: %d %s", status, body)
	}
	json.Unmarshal(body, &inbox)
	return inbox
}

func TestInboxAPI(t *testing.T) { testInboxAPI(t, "") }

// TestPostgres_InboxAPI is TestInboxAPI with the records in PostgreSQL
// (--store).
func TestPostgres_InboxAPI(t *testing.T) { testInboxAPI(t, postgrestest.URL(t)) }

// testInboxAPI runs the inbox's API on the store (a PostgreSQL URL, or ""
// for Badger in a data directory).
func testInboxAPI(t *testing.T, store string) {
	_, ts := startAdminServer(t, server.Config{Store: store, Sites: []*widget.Site{hoSite(t, time.Hour)}})
	ana := hoAgentClient(t, ts.URL, "ana", hoAddAgent(t, ts.URL, adminToken, "ana", "Ana Lopez"))
	bo := hoAgentClient(t, ts.URL, "bo", hoAddAgent(t, ts.URL, adminToken, "bo", "Bo"))
	events := hoEvents(t, ana, ts.URL, "")
	tokEvents := hoEvents(t, http.DefaultClient, ts.URL, adminToken)

	v := widgettest.MustDial(t, widgettest.URL(ts.URL, "demo"), widgettest.Options{Origin: testOrigin})
	sid := v.MustHello(widgettest.Hello{}).Session
	v.UntilPrompt("hi")
	v.MustChoice("c1", "hi", "person")
	v.Expect(widgettest.TypeAck)
	v.Expect(widgettest.TypeMessage)
	if ev := hoNext(t, events, "changed"); ev.Session != sid || ev.Status != "waiting" {
		t.Errorf("event %+v", ev)
	}
	hoNext(t, tokEvents, "changed")
	in := inboxOf(t, ana, ts.URL, "")
	if len(in.Waiting) != 1 || in.Waiting[0].Session != sid || !in.Waiting[0].Unread {
		t.Fatalf("inbox %+v", in)
	}
	path := ts.URL + "/admin/api/sessions/" + sid

	t.Run("Take", func(t *testing.T) {
		if status, body := hoCall(t, ana, "POST", path+"/take", "", map[string]any{}); status != 200 || !strings.Contains(string(body), `"assignee":"ana"`) {
			t.Fatalf("take: %d %s", status, body)
		}
		v.Expect(widgettest.TypeHandover)
		for _, c := range []struct{ what, method, path string }{
			{"take", "POST", "/take"}, {"reply", "POST", "/messages"}, {"hand back", "POST", "/handback"}, {"typing", "POST", "/typing"}, {"close", "POST", "/close"},
		} {
			var req any = map[string]any{}
			if c.what == "reply" {
				req = map[string]string{"text": "me"}
			}
			status, body := hoCall(t, bo, c.method, path+c.path, "", req)
			if status != 409 {
				t.Errorf("Bo's %s: %d %s, want 409", c.what, status, body)
			}
		}
	})
	t.Run("TypingBothWays", func(t *testing.T) {
		v.MustTyping()
		if ev := hoNext(t, events, "typing"); ev.From != "visitor" || ev.Session != sid {
			t.Errorf("event %+v", ev)
		}
		if status, _ := hoCall(t, ana, "POST", path+"/typing", "", map[string]any{}); status != 204 {
			t.Errorf("typing: %d", status)
		}
		if f := v.Expect(widgettest.TypeTyping); f.Agent != "Ana Lopez" {
			t.Errorf("got %+v", f)
		}
	})
	t.Run("Reply", func(t *testing.T) {
		for _, bad := range []map[string]string{{"text": "  "}, {"text": strings.Repeat("x", 4001)}, {"text": "hi", "clientId": strings.Repeat("r", 65)}} {
			if status, body := hoCall(t, ana, "POST", path+"/messages", "", bad); status != 400 {
				t.Errorf("bad reply: %d %s", status, body)
			}
		}
		reply := map[string]string{"text": "Hi, Ana here", "clientId": "r1"}
		status, body := hoCall(t, ana, "POST", path+"/messages", "", reply)
		if status != 201 || !strings.Contains(string(body), `"agentName":"Ana Lopez"`) {
			t.Fatalf("reply: %d %s", status, body)
		}
		if m := v.Expect(widgettest.TypeMessage); m.From != "agent" || m.Agent != "Ana Lopez" || m.Ref != "" {
			t.Errorf("got %+v, want Ana's message without a ref (its client ID names her sign-in)", m)
		}
		// The same request again (its answer lost, say): the stored message,
		// sent to nobody again.
		again, againBody := hoCall(t, ana, "POST", path+"/messages", "", reply)
		var first, second struct{ ID string }
		json.Unmarshal(body, &first)
		json.Unmarshal(againBody, &second)
		if again != 201 || second.ID == "" || second.ID != first.ID {
			t.Errorf("the reply again: %d %s, want 201 with message %s", again, againBody, first.ID)
		}
		if _, transcript := hoCall(t, ana, "GET", path, "", nil); strings.Count(string(transcript), "Hi, Ana here") != 1 {
			t.Errorf("the transcript holds the reply %d times, want once: %s", strings.Count(string(transcript), "Hi, Ana here"), transcript)
		}
	})
	t.Run("UnreadAndRead", func(t *testing.T) {
		v.MustText("c2", "Thanks!")
		v.Until(widgettest.TypeAck)
		hoNext(t, events, "changed")
		if in := inboxOf(t, ana, ts.URL, ""); len(in.Held) != 1 || !in.Held[0].Unread || in.Held[0].Agent != "ana" {
			t.Fatalf("inbox %+v", in)
		}
		if status, _ := hoCall(t, ana, "POST", path+"/read", "", map[string]any{}); status != 204 {
			t.Fatal(status)
		}
		if in := inboxOf(t, ana, ts.URL, ""); in.Held[0].Unread {
			t.Errorf("still unread for Ana")
		}
		if in := inboxOf(t, bo, ts.URL, ""); !in.Held[0].Unread {
			t.Errorf("read for Bo too")
		}
	})
	t.Run("TranscriptNamesTheAgent", func(t *testing.T) {
		status, body := hoCall(t, bo, "GET", path, "", nil)
		if status != 200 || !strings.Contains(string(body), `"from":"agent"`) || !strings.Contains(string(body), `"agentName":"Ana Lopez"`) || !strings.Contains(string(body), `"handover":{"status":"held"`) {
			t.Errorf("transcript: %d %s", status, body)
		}
	})
	t.Run("HandBackAtUnknownBlock", func(t *testing.T) {
		if status, body := hoCall(t, ana, "POST", path+"/handback", "", map[string]string{"block": "nope"}); status != 400 || !strings.Contains(string(body), "unknown_block") {
			t.Errorf("got %d %s", status, body)
		}
		if status, body := hoCall(t, ana, "POST", path+"/handback", "", map[string]string{"blk": "x"}); status != 400 || !strings.Contains(string(body), "bad_request") {
			t.Errorf("unknown field: %d %s", status, body)
		}
	})
	t.Run("HandBack", func(t *testing.T) {
		if status, body := hoCall(t, ana, "POST", path+"/handback", "", map[string]string{"block": "mail"}); status != 204 {
			t.Fatalf("got %d %s", status, body)
		}
		if f := v.Expect(widgettest.TypeHandover); f.Status != "released" {
			t.Errorf("got %+v", f)
		}
		if p := v.ExpectPrompt(); p.Block != "mail" {
			t.Errorf("prompt %+v", p)
		}
		in := inboxOf(t, ana, ts.URL, "")
		if len(in.Waiting)+len(in.Held) != 0 || len(in.Open) != 1 || in.Open[0].Status != "open" {
			t.Errorf("inbox after hand back %+v", in)
		}
	})
	t.Run("Lead", func(t *testing.T) {
		v.MustInput("c3", "mail", "v@example.org")
		v.Expect(widgettest.TypeAck)
		if ev := hoNext(t, events, "goal"); ev.Goal != "lead" || ev.Session != sid {
			t.Errorf("event %+v", ev)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		if status, _ := hoCall(t, ana, "POST", ts.URL+"/admin/api/sessions/01JAAAAAAAAAAAAAAAAAAAAAAA/take", "", map[string]any{}); status != 404 {
			t.Errorf("take unknown: %d", status)
		}
	})
}
