package server_test

import (
	"testing"

	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/widgettest"
)

// TestAdminAPI_Trace walks the demo story through the real widget socket
// and reads the transcript's trace: each bot message has the way to it
// since the visitor's last message, the email's condition with the value
// tested and the branch taken; visitor messages have none.
func TestAdminAPI_Trace(t *testing.T) {
	_, ts := admServer(t)
	c := widgettest.MustDial(t, widgettest.URL(ts.URL, "demo"), widgettest.Options{Origin: ts.URL})
	w := c.MustHello(widgettest.Hello{})
	c.UntilPrompt("menu")
	c.MustChoice("c1", "menu", "pricing")
	c.UntilPrompt("ask_name")
	c.MustText("c2", "Kim")
	c.UntilPrompt("ask_email")
	c.MustText("c3", "kim@example.org")
	c.UntilPrompt("ask_phone")

	var tr struct {
		Messages []struct {
			From, Kind, Block, Text string
			Trace                   []storage.Step
		}
	}
	admintest.Get(t, ts.URL, admToken, "/admin/api/sessions/"+w.Session, &tr)
	traces := map[string][]storage.Step{}
	for _, m := range tr.Messages {
		if m.From != "bot" && len(m.Trace) > 0 {
			t.Errorf("a %s message has a trace: %+v", m.From, m.Trace)
		}
		if m.From == "bot" {
			traces[m.Block] = m.Trace
		}
	}
	want := map[string][]storage.Step{
		"ask_name": {
			{Block: "menu", Kind: "choice", Value: "Pricing", Next: "pricing", Answered: true},
			{Block: "pricing", Kind: "message"},
			{Block: "tag_pricing", Kind: "tag", Tag: "pricing"},
			{Block: "ask_name", Kind: "input"},
		},
		"ask_phone": {
			{Block: "ask_email", Kind: "input", Variable: "email", Value: "kim@example.org", Next: "check_test", Answered: true},
			{Block: "check_test", Kind: "condition", Variable: "email", Value: "kim@example.org", Op: "matches",
				Want: `@example\.(com|org)$`, Branch: "then", Next: "tag_test"},
			{Block: "tag_test", Kind: "tag", Tag: "test-address"},
			{Block: "ask_phone", Kind: "input"},
		},
	}
	for block, steps := range want {
		if got := traces[block]; !equalSteps(got, steps) {
			t.Errorf("%s trace:\n got %+v\nwant %+v", block, got, steps)
		}
	}
	// The pricing message and the name prompt are one turn: the prompt's
	// trace starts where the visitor's click did, the message's too.
	if got := traces["pricing"]; len(got) != 2 || got[0].Block != "menu" || got[1].Block != "pricing" {
		t.Errorf("pricing trace: %+v", got)
	}
}

func equalSteps(a, b []storage.Step) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
