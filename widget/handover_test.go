package widget_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/story"
	"github.com/parley-chat/parley/widget/widgettest"
)

// handoverStory greets and offers a person or the bot; the handover block
// goes on at "nobody" when no person takes the conversation in time.
const handoverStory = `{"bot":"help","version":"1","start":"hi","fallback":"fb","blocks":[
 {"id":"hi","kind":"choice","text":"How can we help?","options":[
   {"id":"person","label":"Talk to a person","next":"ho"},
   {"id":"bot","label":"Just browsing","next":"bye"}]},
 {"id":"ho","kind":"handover","text":"Connecting you to a person…","next":"nobody"},
 {"id":"nobody","kind":"message","text":"Nobody is free right now.","next":"mail"},
 {"id":"mail","kind":"input","input":"email","variable":"email","text":"Your email?","next":"lead"},
 {"id":"lead","kind":"goal","goal":"lead","next":"bye"},
 {"id":"fb","kind":"message","text":"Sorry?"},
 {"id":"bye","kind":"end","text":"Bye!"}]}`

func handoverSite(tb testing.TB, timeout time.Duration) *widget.Site {
	tb.Helper()
	st, err := story.Parse([]byte(handoverStory))
	if err != nil {
		tb.Fatal(err)
	}
	s := demoSite()
	s.Story, s.HandoverTimeout = st, timeout
	return s
}

var (
	ana = widget.Agent{Name: "ana", DisplayName: "Ana Lopez"}
	bo  = widget.Agent{Name: "bo", DisplayName: "Bo"}
)

// askForPerson opens a conversation and clicks "Talk to a person": the
// visitor then reads the handover block's text.
func askForPerson(t *testing.T, e *env, c *widgettest.Client) string {
	t.Helper()
	w := c.MustHello(widgettest.Hello{})
	c.UntilPrompt("hi")
	c.MustChoice("c1", "hi", "person")
	c.Expect(widgettest.TypeAck)
	if m := c.Expect(widgettest.TypeMessage); m.Text != "Connecting you to a person…" {
		t.Fatalf("got %+v, want the handover text", m)
	}
	return w.Session
}

// event reads the next event of type typ within 2 s.
func event(t *testing.T, ch <-chan widget.Event, typ string) widget.Event {
	t.Helper()
	timeout := time.After(2 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.Type == typ {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event", typ)
		}
	}
}

func TestHandover_AgentTakesAndHandsBack(t *testing.T) {
	e := mustEnvSite(t, widget.Config{}, handoverSite(t, time.Hour))
	ctx := context.Background()
	events, stop := e.gw.Subscribe()
	defer stop()
	jar := widgettest.NewJar()
	c := e.dial(jar)
	sid := askForPerson(t, e, c)
	if ev := event(t, events, widget.EventChanged); ev.Session != sid || ev.Status != storage.HandoverWaiting {
		t.Fatalf("event %+v, want %s waiting", ev, sid)
	}
	list, err := e.store.Handovers(ctx)
	if err != nil || len(list) != 1 || list[0].Status != storage.HandoverWaiting || list[0].Session != sid {
		t.Fatalf("handovers %+v, %v", list, err)
	}

	t.Run("WaitingVisitorGetsNoBotAnswer", func(t *testing.T) {
		c.MustText("c2", "Can I bring it in on Saturday?")
		c.Expect(widgettest.TypeAck)
	})
	if err := e.gw.Take(ctx, sid, ana); err != nil {
		t.Fatal(err)
	}
	if f := c.Expect(widgettest.TypeHandover); f.Status != "held" || f.Agent != "Ana Lopez" {
		t.Fatalf("got %+v, want held by Ana Lopez", f)
	}
	t.Run("SecondAgentRefused", func(t *testing.T) {
		if err := e.gw.Take(ctx, sid, bo); !errors.Is(err, widget.ErrHeldByOther) {
			t.Errorf("take: %v, want ErrHeldByOther", err)
		}
		if _, err := e.gw.Reply(ctx, sid, bo, "me too", ""); !errors.Is(err, widget.ErrHeldByOther) {
			t.Errorf("reply: %v, want ErrHeldByOther", err)
		}
		if err := e.gw.HandBack(ctx, sid, bo, ""); !errors.Is(err, widget.ErrNotHeld) {
			t.Errorf("hand back: %v, want ErrNotHeld", err)
		}
	})
	tab2 := e.dial(jar)
	if w := tab2.MustHello(widgettest.Hello{Session: sid}); w.Handover == nil || w.Handover.Agent != "Ana Lopez" {
		t.Fatalf("second tab's welcome %+v: want the handover held by Ana Lopez", w.Handover)
	}
	t.Run("AgentReplyInEveryTab", func(t *testing.T) {
		if _, err := e.gw.Reply(ctx, sid, ana, "Yes, Saturday works.", ""); err != nil {
			t.Fatal(err)
		}
		for _, tab := range []*widgettest.Client{c, tab2} {
			if m := tab.Expect(widgettest.TypeMessage); m.From != "agent" || m.Agent != "Ana Lopez" || m.Text != "Yes, Saturday works." {
				t.Errorf("got %+v, want Ana's message", m)
			}
		}
	})
	t.Run("TypingBothWays", func(t *testing.T) {
		if err := e.gw.Typing(ctx, sid, ana); err != nil {
			t.Fatal(err)
		}
		if f := c.Expect(widgettest.TypeTyping); f.From != "agent" || f.Agent != "Ana Lopez" {
			t.Errorf("got %+v", f)
		}
		tab2.Expect(widgettest.TypeTyping)
		c.MustTyping()
		if ev := event(t, events, widget.EventTyping); ev.Session != sid || ev.From != "visitor" {
			t.Errorf("event %+v", ev)
		}
		if err := e.gw.Typing(ctx, sid, bo); !errors.Is(err, widget.ErrNotHeld) {
			t.Errorf("another agent typing: %v, want ErrNotHeld", err)
		}
	})
	t.Run("HeldVisitorGetsNoBotAnswer", func(t *testing.T) {
		c.MustText("c3", "Great, thanks")
		c.Expect(widgettest.TypeAck)
		if m := tab2.Expect(widgettest.TypeMessage); m.From != "visitor" || m.Ref != "c3" {
			t.Errorf("other tab got %+v", m)
		}
		c.MustChoice("c4", "hi", "bot")
		if f := c.Expect(widgettest.TypeError); f.Code != "not_pending" {
			t.Errorf("a click while held: %+v, want not_pending", f)
		}
		// Nothing from the bot came in between: the next frame is the
		// agent's.
		e.gw.Reply(ctx, sid, ana, "You're welcome", "")
		if m := c.Expect(widgettest.TypeMessage); m.From != "agent" {
			t.Errorf("got %+v, want the agent's message next", m)
		}
		tab2.Expect(widgettest.TypeMessage)
	})
	t.Run("ReloadSeesEverything", func(t *testing.T) {
		r := e.dial(jar)
		w := r.MustHello(widgettest.Hello{Session: sid})
		var from []string
		for _, m := range w.History {
			from = append(from, m.From+":"+m.Agent)
		}
		want := []string{"bot:", "visitor:", "bot:", "visitor:", "agent:Ana Lopez", "visitor:", "agent:Ana Lopez"}
		if len(from) != len(want) {
			t.Fatalf("history %v, want %v", from, want)
		}
		for i := range want {
			if from[i] != want[i] {
				t.Fatalf("history %v, want %v", from, want)
			}
		}
		if w.Handover == nil || w.Handover.Status != "held" {
			t.Errorf("welcome handover %+v", w.Handover)
		}
		r.Close()
	})
	t.Run("HandBackWhereItWas", func(t *testing.T) {
		if err := e.gw.HandBack(ctx, sid, ana, ""); err != nil {
			t.Fatal(err)
		}
		if f := c.Expect(widgettest.TypeHandover); f.Status != "released" {
			t.Fatalf("got %+v", f)
		}
		if m := c.Expect(widgettest.TypeMessage); m.Text != "Nobody is free right now." {
			t.Errorf("got %+v, want the story at the handover block's next", m)
		}
		if p := c.ExpectPrompt(); p.Block != "mail" {
			t.Errorf("prompt %+v", p)
		}
		if list, _ := e.store.Handovers(ctx); len(list) != 0 {
			t.Errorf("handovers after hand back: %+v", list)
		}
		c.MustText("c5", "a@b.org")
		c.Expect(widgettest.TypeAck)
		if ev := event(t, events, widget.EventGoal); ev.Goal != "lead" || ev.Session != sid {
			t.Errorf("goal event %+v", ev)
		}
	})
	t.Run("Stored", func(t *testing.T) {
		msgs, err := e.store.Messages(ctx, sid, 0)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range msgs {
			if m.From == storage.FromAgent {
				n++
				if m.Agent != "ana" || m.AgentName != "Ana Lopez" || m.Kind != storage.KindAgent {
					t.Errorf("agent message %+v", m)
				}
			}
		}
		if n != 2 {
			t.Errorf("%d agent messages stored, want 2", n)
		}
	})
}

func TestHandover_Timeout(t *testing.T) {
	e := mustEnvSite(t, widget.Config{}, handoverSite(t, 50*time.Millisecond))
	c := e.dial(widgettest.NewJar())
	askForPerson(t, e, c)
	e.clock.Advance(time.Minute)
	if f := c.Expect(widgettest.TypeHandover); f.Status != "released" {
		t.Fatalf("got %+v", f)
	}
	if m := c.Expect(widgettest.TypeMessage); m.Text != "Nobody is free right now." {
		t.Errorf("got %+v, want the fallback at next", m)
	}
}

func TestHandover_TimeoutSurvivesRestart(t *testing.T) {
	site := handoverSite(t, 200*time.Millisecond)
	e := mustEnvSite(t, widget.Config{}, site)
	jar := widgettest.NewJar()
	sid := askForPerson(t, e, e.dial(jar))
	e.reopen()
	e.clock.Advance(time.Minute)
	deadline := time.Now().Add(3 * time.Second)
	for {
		sess, err := e.store.Session(context.Background(), sid)
		if err != nil {
			t.Fatal(err)
		}
		if sess.State.Handover == nil && sess.State.Pending == "mail" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a restart the wait never timed out: %+v", sess.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	w := e.dial(jar).MustHello(widgettest.Hello{Session: sid})
	if p := w.Pending(); p == nil || p.Block != "mail" {
		t.Errorf("pending %+v, want mail", p)
	}
}

func TestHandover_TakeUnasked(t *testing.T) {
	e := mustEnvSite(t, widget.Config{}, handoverSite(t, time.Hour))
	ctx := context.Background()
	c := e.dial(widgettest.NewJar())
	sid := c.MustHello(widgettest.Hello{}).Session
	c.UntilPrompt("hi")
	if _, err := e.gw.Reply(ctx, sid, bo, "Hi, I'm Bo. Can I help?", ""); err != nil {
		t.Fatal(err)
	}
	if f := c.Expect(widgettest.TypeHandover); f.Agent != "Bo" {
		t.Fatalf("got %+v", f)
	}
	c.Expect(widgettest.TypeMessage)
	c.MustChoice("c1", "hi", "bot")
	if f := c.Expect(widgettest.TypeError); f.Code != "not_pending" {
		t.Errorf("got %+v", f)
	}
	t.Run("HandBackAtBlock", func(t *testing.T) {
		if err := e.gw.HandBack(ctx, sid, bo, "nope"); err == nil {
			t.Error("hand back at an unknown block: no error")
		}
		if err := e.gw.HandBack(ctx, sid, bo, "hi"); err != nil {
			t.Fatal(err)
		}
		c.Expect(widgettest.TypeHandover)
		if p := c.ExpectPrompt(); p.Block != "hi" {
			t.Errorf("prompt %+v", p)
		}
		c.MustChoice("c2", "hi", "bot")
		c.Expect(widgettest.TypeAck)
	})
}

func TestHandover_Close(t *testing.T) {
	e := mustEnvSite(t, widget.Config{}, handoverSite(t, time.Hour))
	ctx := context.Background()
	c := e.dial(widgettest.NewJar())
	sid := askForPerson(t, e, c)
	if err := e.gw.Take(ctx, sid, ana); err != nil {
		t.Fatal(err)
	}
	c.Expect(widgettest.TypeHandover)
	if err := e.gw.Close(ctx, sid, bo); !errors.Is(err, widget.ErrHeldByOther) {
		t.Errorf("close by another: %v", err)
	}
	if err := e.gw.Close(ctx, sid, ana); err != nil {
		t.Fatal(err)
	}
	c.Expect(widgettest.TypeEnded)
	if err := e.gw.Close(ctx, sid, ana); err != nil {
		t.Errorf("close again: %v, want none (a call made again after its answer was lost)", err)
	}
	if err := e.gw.Take(ctx, sid, ana); !errors.Is(err, widget.ErrEnded) {
		t.Errorf("take after close: %v, want ErrEnded", err)
	}
	if list, _ := e.store.Handovers(ctx); len(list) != 0 {
		t.Errorf("handovers after close: %+v", list)
	}
}

func TestHandover_EraseLeavesNoEntry(t *testing.T) {
	e := mustEnvSite(t, widget.Config{}, handoverSite(t, time.Hour))
	ctx := context.Background()
	c := e.dial(widgettest.NewJar())
	sid := askForPerson(t, e, c)
	sess, err := e.store.Session(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.EraseVisitor(ctx, sess.VisitorID); err != nil {
		t.Fatal(err)
	}
	if list, _ := e.store.Handovers(ctx); len(list) != 0 {
		t.Errorf("handovers after erase: %+v", list)
	}
	if err := e.gw.Take(ctx, sid, ana); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("take after erase: %v, want not found", err)
	}
}

func TestHandover_InactiveRefused(t *testing.T) {
	e := mustEnvSite(t, widget.Config{}, handoverSite(t, time.Hour))
	ctx := context.Background()
	c := e.dial(widgettest.NewJar())
	sid := c.MustHello(widgettest.Hello{}).Session
	c.UntilPrompt("hi")
	c.Close()
	e.clock.Advance(31 * time.Minute)
	// The socket's close reaches the gateway a moment later.
	deadline := time.Now().Add(2 * time.Second)
	for e.gw.Active(sid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := e.gw.Take(ctx, sid, ana); !errors.Is(err, widget.ErrInactive) {
		t.Errorf("take of a conversation left 31 min ago: %v, want ErrInactive", err)
	}
}
