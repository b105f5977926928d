package server_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/webhook/webhooktest"
	"github.com/parley-chat/parley/widget/widgettest"
)

// TestWebhooks_Handover: the hand-over's webhook events, handover.requested
// when the story asks for a person and handover.taken when an agent takes
// the conversation, each with its details, in order with the agent's
// message.
func TestWebhooks_Handover(t *testing.T) {
	r := webhooktest.New(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "help.json"), []byte(hoStory), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sites.json")
	src := fmt.Sprintf(`{"sites": [{"id": "demo", "origins": ["http://localhost:*"], "story": "help.json", "webhooks": [%s]}]}`, hook("crm", r.URL, true))
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, base := startWebhookServer(t, path)
	ana := hoAgentClient(t, base, "ana", hoAddAgent(t, base, adminToken, "ana", "Ana Lopez"))

	v := widgettest.MustDial(t, widgettest.URL(base, "demo"), widgettest.Options{Origin: testOrigin})
	sid := v.MustHello(widgettest.Hello{}).Session
	v.UntilPrompt("hi")
	v.MustChoice("c1", "hi", "person")
	v.Until(widgettest.TypeAck)
	if status, body := hoCall(t, ana, "POST", base+"/admin/api/sessions/"+sid+"/messages", "", map[string]string{"text": "Hi, Ana here"}); status != 201 {
		t.Fatalf("reply: %d %s", status, body)
	}

	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = got[:0]
		for _, d := range r.Unique() {
			got = append(got, d.Type)
		}
		if strings.Contains(strings.Join(got, " "), "handover.taken message.created") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := "session.started message.created message.created message.created handover.requested handover.taken message.created"
	if strings.Join(got, " ") != want {
		t.Fatalf("events %v, want %s", got, want)
	}
	for _, d := range r.Unique() {
		var body struct {
			Data struct {
				Handover map[string]any `json:"handover"`
				Message  struct {
					From, AgentName string
				} `json:"message"`
			} `json:"data"`
		}
		json.Unmarshal(d.Body, &body)
		switch d.Type {
		case "handover.requested":
			if body.Data.Handover["block"] != "ho" || body.Data.Handover["timeoutAt"] == nil {
				t.Errorf("handover.requested %s", d.Body)
			}
		case "handover.taken":
			if body.Data.Handover["agent"] != "ana" || body.Data.Handover["agentName"] != "Ana Lopez" || body.Data.Handover["asked"] != true {
				t.Errorf("handover.taken %s", d.Body)
			}
		}
	}
	if last := r.Unique()[len(r.Unique())-1]; last.Data.Message == nil || last.Data.Message.From != "agent" {
		t.Errorf("last event %s, want the agent's message", last.Body)
	}
}
