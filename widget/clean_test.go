package widget_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/story"
	"github.com/parley-chat/parley/widget/widgettest"
)

// dirty holds what a visitor must not get stored: NUL, ESC and other C0
// and C1 controls, a carriage return, bidi overrides and isolates; the
// newline and the tab stay.
const (
	dirty = "line\x00 one\r\n\tline\x1b[31m two\u202eevil\u2066x\u2069\u0085\u009b\x7f"
	clean = "line one\n\tline[31m twoevilx"
)

func TestConversation_CleanText(t *testing.T) {
	site := demoSite()
	st, err := story.Parse([]byte(`{"bot":"clean","version":"1","start":"menu","fallback":"fb","blocks":[
		{"id":"fb","kind":"message","text":"Sorry?"},
		{"id":"menu","kind":"choice","text":"Pick","options":[{"id":"a","label":"Yes\u202e\u0000\u001b please","next":"name"}]},
		{"id":"name","kind":"input","input":"text","variable":"first_name","text":"Name?","next":"bye"},
		{"id":"bye","kind":"message","text":"Bye {{first_name}}"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	site.Story = st
	e := mustEnvSite(t, widget.Config{}, site)
	c := e.dial(widgettest.NewJar())
	w := c.MustHello(widgettest.Hello{Page: "http://localhost:5173/\x1b[2Jx"})
	c.ExpectPrompt()

	c.MustChoice("t2", "menu", "a")
	if ack := c.Expect("ack"); ack.Text != "Yes please" {
		t.Fatalf("choice ack = %q, want the label without controls", ack.Text)
	}
	if p := c.ExpectPrompt(); p.Block != "name" {
		t.Fatalf("prompt = %+v, want name", p)
	}
	c.MustInput("t3", "name", "Ann\u202e\x00\x1b")
	if ack := c.Expect("ack"); ack.Text != "Ann" {
		t.Fatalf("input ack = %q, want Ann", ack.Text)
	}
	if bye := c.Expect("message"); bye.Text != "Bye Ann" {
		t.Fatalf("bye = %q, want Bye Ann", bye.Text)
	}

	// Free text after the story ended: the fallback answers it.
	c.MustText("t1", dirty)
	if ack := c.Expect("ack"); ack.Text != clean {
		t.Fatalf("text ack = %q, want %q", ack.Text, clean)
	}
	c.Expect("message")

	ctx := context.Background()
	msgs, err := e.store.Messages(ctx, w.Session, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"t1": clean, "t2": "Yes please", "t3": "Ann"}
	for _, m := range msgs {
		if w, ok := want[m.ClientID]; ok {
			if m.Text != w {
				t.Errorf("stored %s = %q, want %q", m.ClientID, m.Text, w)
			}
			delete(want, m.ClientID)
		}
	}
	if len(want) != 0 {
		t.Fatalf("messages not stored: %v", want)
	}
	sess, err := e.store.Session(ctx, w.Session)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Page != "http://localhost:5173/[2Jx" || sess.State.Variables["first_name"] != "Ann" || sess.Inputs[0].Value != "Ann" {
		t.Fatalf("session page %q, variable %q, input %+v: want them clean", sess.Page, sess.State.Variables["first_name"], sess.Inputs)
	}
	v, err := e.store.Visitor(ctx, w.Visitor)
	if err != nil {
		t.Fatal(err)
	}
	if v.LastMessage != clean {
		t.Fatalf("visitor's last message = %q, want %q", v.LastMessage, clean)
	}
}
