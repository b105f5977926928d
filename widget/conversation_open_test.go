package widget_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

// walkToFileOffer walks the demo story from a new session to the offer
// of a file and returns the welcome.
func walkToFileOffer(t *testing.T, c *widgettest.Client) widgettest.Frame {
	t.Helper()
	w := walkToEmail(t, c)
	c.MustInput("e1", "ask_email", "ann@example.org")
	c.Expect("ack")
	c.ExpectPrompt()
	c.MustInput("e2", "ask_phone", "+49 30 1234567")
	c.Expect("ack")
	if p := c.ExpectPrompt(); p.Block != "offer_file" {
		t.Fatalf("got %q, want offer_file", p.Block)
	}
	return w
}

func TestConversation_OpenQuestion(t *testing.T) {
	e := mustEnv(t, widget.Config{})
	c := e.dial(widgettest.NewJar())
	w := c.MustHello(widgettest.Hello{})
	c.ExpectPrompt()

	// Free text while the menu is open: the fallback, then the menu again.
	c.MustText("t1", "I want a bike")
	c.Expect("ack")
	if f := c.Expect("message"); f.From != "visitor" && !strings.Contains(f.Text, "please use the buttons") {
		t.Fatalf("got %+v, want the fallback", f)
	}
	if p := c.ExpectPrompt(); p.Block != "menu" || len(p.Options) != 2 {
		t.Fatalf("after the fallback got %+v, want the menu with its options again", p)
	}

	// The option's label, typed carelessly, is the click.
	c.MustText("t2", "  show me A  demo ")
	if ack := c.Expect("ack"); ack.Text != "Show me a demo" {
		t.Errorf("ack text = %q, want the option's label", ack.Text)
	}
	if p := c.ExpectPrompt(); p.Block != "ask_name" {
		t.Fatalf("after the typed label got %q, want ask_name", p.Block)
	}
	msgs, err := e.store.Messages(context.Background(), w.Session, 0)
	if err != nil {
		t.Fatal(err)
	}
	var typed *storage.Message
	for i := range msgs {
		if msgs[i].ClientID == "t2" {
			typed = &msgs[i]
		}
	}
	if typed == nil || typed.Kind != storage.KindChoice || typed.Block != "menu" || typed.Option != "demo" || typed.Text != "Show me a demo" {
		t.Fatalf("the typed label is stored as %+v, want the choice menu/demo", typed)
	}
	sess, err := e.store.Session(context.Background(), w.Session)
	if err != nil {
		t.Fatal(err)
	}
	if !sess.Engaged {
		t.Error("a typed label does not count as an engagement")
	}
}

func TestConversation_UploadSkip(t *testing.T) {
	e := mustEnv(t, widget.Config{})
	c := e.dial(widgettest.NewJar())
	w := walkToFileOffer(t, c)
	c.MustChoice("u1", "offer_file", "yes")
	c.Expect("ack")
	p := c.ExpectPrompt()
	if p.Upload == nil || len(p.Options) != 1 || p.Options[0].ID != "skip" || p.Options[0].Label != "Skip the file" {
		t.Fatalf("upload prompt = %+v, want the upload with a skip button", p)
	}
	// Text while the file is asked for keeps the upload open.
	c.MustText("u2", "I have none")
	c.Expect("ack")
	if p := c.ExpectPrompt(); p.Block != "ask_file" || p.Upload == nil {
		t.Fatalf("after the fallback got %+v, want the upload again", p)
	}
	c.MustChoice("u3", "ask_file", "skip")
	c.Expect("ack")
	if bye := c.Expect("message"); bye.Block != "bye" {
		t.Fatalf("after the skip got %+v, want bye", bye)
	}
	if f := c.Expect("ended"); f.Session != w.Session {
		t.Errorf("ended frame %+v, want session %s", f, w.Session)
	}
	sess, err := e.store.Session(context.Background(), w.Session)
	if err != nil {
		t.Fatal(err)
	}
	if !sess.State.Ended || sess.HasFiles || sess.State.Variables["attachment"] != "" {
		t.Errorf("after the skip: ended %v files %v vars %v", sess.State.Ended, sess.HasFiles, sess.State.Variables)
	}
}

func TestConversation_Ended(t *testing.T) {
	e := mustEnv(t, widget.Config{})
	b := widgettest.NewJar()
	c := e.dial(b)
	w := walkToFileOffer(t, c)
	c.MustChoice("n1", "offer_file", "no")
	c.Expect("ack")
	c.Expect("message")
	c.Expect("ended")

	// Nothing reopens the ended conversation: text gets ended, a resend of
	// the last answer its original ack, and the state stays ended.
	c.MustText("n2", "one more thing")
	if f := c.Expect("error"); f.Code != "ended" || f.Ref != "n2" {
		t.Fatalf("text after the end: %+v, want error ended", f)
	}
	c.MustChoice("n1", "offer_file", "no")
	if f := c.Expect("ack"); f.Ref != "n1" {
		t.Fatalf("resend after the end: %+v, want its ack", f)
	}
	c.MustChoice("n3", "menu", "demo")
	if f := c.Expect("error"); f.Code != "ended" {
		t.Fatalf("choice after the end: %+v, want error ended", f)
	}
	ctx := context.Background()
	before, _ := e.store.Messages(ctx, w.Session, 0)
	sess, err := e.store.Session(ctx, w.Session)
	if err != nil {
		t.Fatal(err)
	}
	if !sess.State.Ended {
		t.Fatal("the session is no longer ended")
	}
	// Not even a site's free uploads reach an ended session.
	free := demoSite()
	free.FreeUploads, free.FreeUploadAccept = true, []string{"image/*"}
	e.gw.SetSites([]*widget.Site{free})
	if _, _, err := e.gw.UploadRules(ctx, "demo", w.Session); !errors.Is(err, widget.ErrNoUpload) {
		t.Errorf("upload rules after the end: %v, want ErrNoUpload", err)
	}

	// Coming back within the timeout starts a new conversation, whether
	// the hello names the ended session or not.
	for _, hello := range []widgettest.Hello{{}, {Session: w.Session}} {
		c2 := e.dial(b)
		w2 := c2.MustHello(hello)
		if *w2.Resumed || w2.Session == w.Session || w2.Visitor != w.Visitor || len(w2.History) != 0 {
			t.Fatalf("hello %v after the end: %+v, want a new session of the same visitor", hello, w2)
		}
		if p := c2.ExpectPrompt(); p.Block != "menu" {
			t.Fatalf("the new session opens with %q, want menu", p.Block)
		}
	}
	after, _ := e.store.Messages(ctx, w.Session, 0)
	if len(after) != len(before) {
		t.Errorf("the ended session grew from %d to %d messages", len(before), len(after))
	}
}

func TestSessions_HelloNew(t *testing.T) {
	e := mustEnv(t, widget.Config{})
	b := widgettest.NewJar()
	c := e.dial(b)
	w1 := c.MustHello(widgettest.Hello{})
	c.ExpectPrompt()
	c2 := e.dial(b)
	w2 := c2.MustHello(widgettest.Hello{Session: w1.Session, New: true})
	if *w2.Resumed || w2.Session == w1.Session || w2.Visitor != w1.Visitor {
		t.Fatalf("hello new: %+v, want a new session of visitor %s", w2, w1.Visitor)
	}
	// Without new the live session is resumed as before.
	c3 := e.dial(b)
	if w3 := c3.MustHello(widgettest.Hello{Session: w1.Session}); !*w3.Resumed || w3.Session != w1.Session {
		t.Fatalf("hello without new: %+v, want session %s resumed", w3, w1.Session)
	}
	c3.MustSendHello(widgettest.Hello{})
	if f := c3.Expect("error"); f.Code != "bad_frame" {
		t.Fatalf("a second hello without new: %+v, want bad_frame", f)
	}

	t.Run("SameSocket", func(t *testing.T) {
		// A second hello with new moves the socket to a new session of the
		// same visitor (the widget's "Start a new conversation").
		w4 := c3.MustHello(widgettest.Hello{New: true, Token: "v1.k1.someone-else.x"})
		if *w4.Resumed || w4.Session == w1.Session || w4.Session == w2.Session || w4.Visitor != w1.Visitor {
			t.Fatalf("second hello with new: %+v, want a new session of visitor %s", w4, w1.Visitor)
		}
		c3.ExpectPrompt()
		c3.MustChoice("s1", "menu", "demo")
		c3.Expect("ack")
		c3.ExpectPrompt()
		// The old session's other tab hears nothing of the new one.
		c.MustText("s2", "still here")
		c.Expect("ack")
		if f := c.Expect("message"); f.Type != "message" || f.Text == "What's your first name?" {
			t.Fatalf("the old session's tab got %+v", f)
		}
		msgs, err := e.store.Messages(context.Background(), w4.Session, 0)
		if err != nil || len(msgs) != 4 {
			t.Fatalf("new session holds %d messages (%v), want 4", len(msgs), err)
		}
	})
}
