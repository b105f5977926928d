package widget_test

import (
	"context"
	"slices"
	"testing"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/story"
	"github.com/parley-chat/parley/widget/widgettest"
)

// TestTurn_Trace: through a real socket, each bot message is stored with
// the story's way to it, and a click the bot answers with nothing (a goal
// and an end without text) keeps its way on the visitor's message.
func TestTurn_Trace(t *testing.T) {
	st, err := story.Parse([]byte(`{"bot":"b","version":"1","start":"menu","fallback":"menu","blocks":[
		{"id":"menu","kind":"choice","text":"Call?","options":[{"id":"yes","label":"Yes","next":"tag"}]},
		{"id":"tag","kind":"tag","tag":"caller","next":"goal"},
		{"id":"goal","kind":"goal","goal":"call","next":"bye"},
		{"id":"bye","kind":"end"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	site := demoSite()
	site.Story = st
	e := mustEnvSite(t, widget.Config{}, site)
	c := e.dial(widgettest.NewJar())
	w := c.MustHello(widgettest.Hello{})
	c.UntilPrompt("menu")
	c.MustChoice("c1", "menu", "yes")
	c.Expect("ack")
	c.Until("ended")

	msgs, err := e.store.Messages(context.Background(), w.Session, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want the menu and the click", len(msgs))
	}
	if want := []storage.Step{{Block: "menu", Kind: "choice"}}; !slices.Equal(msgs[0].Trace, want) {
		t.Errorf("menu trace %+v, want %+v", msgs[0].Trace, want)
	}
	want := []storage.Step{
		{Block: "menu", Kind: "choice", Value: "Yes", Next: "tag", Answered: true},
		{Block: "tag", Kind: "tag", Tag: "caller"},
		{Block: "goal", Kind: "goal", Goal: "call"},
		{Block: "bye", Kind: "end"},
	}
	if msgs[1].From != storage.FromVisitor || !slices.Equal(msgs[1].Trace, want) {
		t.Errorf("the click: %s with trace %+v, want %+v", msgs[1].From, msgs[1].Trace, want)
	}
}
