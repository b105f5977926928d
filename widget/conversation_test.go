package widget_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

// walkToEmail starts a new session and answers the menu and the name.
func walkToEmail(t *testing.T, c *widgettest.Client) (welcome widgettest.Frame) {
	t.Helper()
	welcome = c.MustHello(widgettest.Hello{Page: "http://localhost:5173/pricing", Lang: "en"})
	menu := c.ExpectPrompt()
	if menu.Block != "menu" {
		t.Fatalf("first prompt is %q, want menu", menu.Block)
	}
	c.MustChoice("c1", "menu", "demo")
	if ack := c.Expect("ack"); ack.Ref != "c1" || ack.ID == "" {
		t.Fatalf("ack = %+v", ack)
	}
	if p := c.ExpectPrompt(); p.Block != "ask_name" {
		t.Fatalf("after the choice got %q, want ask_name", p.Block)
	}
	c.MustText("c2", "Ann")
	c.Expect("ack")
	p := c.ExpectPrompt()
	if p.Block != "ask_email" || !strings.Contains(p.Text, "Ann") {
		t.Fatalf("after the name got %+v, want ask_email greeting Ann", p)
	}
	return welcome
}

func TestConversation_DemoStory(t *testing.T) {
	e := mustEnv(t, widget.Config{})
	c := e.dial(widgettest.NewJar())
	welcome := walkToEmail(t, c)
	if welcome.Resumed == nil || *welcome.Resumed || len(welcome.History) != 0 || welcome.Token == "" {
		t.Fatalf("welcome = %+v, want a new session with a token and empty history", welcome)
	}

	// An invalid email is refused with invalid_email and asked again.
	c.MustInput("c3", "ask_email", "ann@")
	if f := c.Expect("error"); f.Code != "invalid_email" || f.Ref != "c3" {
		t.Fatalf("error = %+v, want invalid_email for c3", f)
	}
	if p := c.ExpectPrompt(); p.Block != "ask_email" {
		t.Fatalf("re-ask = %+v, want ask_email again", p)
	}
	c.MustInput("c4", "ask_email", " ann@example.org ")
	c.Expect("ack")
	if p := c.ExpectPrompt(); p.Block != "ask_phone" {
		t.Fatalf("after the email got %q, want ask_phone", p.Block)
	}
	c.MustInput("c5", "ask_phone", "030 1234567")
	if ack := c.Expect("ack"); ack.Text != "+49301234567" {
		t.Fatalf("phone ack text = %q, want the stored E.164 form", ack.Text)
	}
	if p := c.ExpectPrompt(); p.Block != "offer_file" {
		t.Fatalf("after the phone got %q, want offer_file", p.Block)
	}
	c.MustChoice("c6", "offer_file", "no")
	c.Expect("ack")
	if bye := c.Expect("message"); bye.Block != "bye" || !strings.Contains(bye.Text, "Ann") {
		t.Fatalf("last message = %+v, want the bye block", bye)
	}

	ctx := context.Background()
	sess, err := e.store.Session(ctx, welcome.Session)
	if err != nil {
		t.Fatal(err)
	}
	st := sess.State
	if !st.Ended || !slices.Contains(st.Goals, "lead") || !slices.Contains(st.Tags, "test-address") {
		t.Errorf("state = %+v, want ended with goal lead and tag test-address", st)
	}
	if got, want := st.Variables["phone"], "+49301234567"; got != want {
		t.Errorf("phone = %q, want E.164 %q", got, want)
	}
	if got, want := st.Variables["email"], "ann@example.org"; got != want {
		t.Errorf("email = %q, want %q", got, want)
	}
	if !sess.Engaged || !sess.HasInputs || sess.HasFiles || len(sess.Inputs) != 3 {
		t.Errorf("flags engaged=%v inputs=%v files=%v (%d inputs), want engaged with 3 inputs and no files",
			sess.Engaged, sess.HasInputs, sess.HasFiles, len(sess.Inputs))
	}
	if sess.Bot != "demo" || sess.Version != "1" || sess.Channel != "web" || sess.Device.Browser != "Firefox 121" {
		t.Errorf("session = %s %s %s %+v", sess.Bot, sess.Version, sess.Channel, sess.Device)
	}
	v, err := e.store.Visitor(ctx, welcome.Visitor)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := v.Label(), "+49301234567"; got != want {
		t.Errorf("visitor label = %q, want the latest contact input %q", got, want)
	}
	if v.Name != "Ann" || v.Email != "ann@example.org" {
		t.Errorf("visitor name/email = %q/%q", v.Name, v.Email)
	}
}

func TestSessions_Resume(t *testing.T) {
	t.Run("SameVisitor", func(t *testing.T) {
		e := mustEnv(t, widget.Config{})
		b := widgettest.NewJar()
		c := e.dial(b)
		w1 := walkToEmail(t, c)
		c.Close()

		c2 := e.dial(b)
		w2 := c2.MustHello(widgettest.Hello{Session: w1.Session})
		if !*w2.Resumed || w2.Session != w1.Session || w2.Visitor != w1.Visitor {
			t.Fatalf("welcome = %+v, want session %s resumed", w2, w1.Session)
		}
		// welcome, menu, choice, ask_name, name, ask_email
		if got := len(w2.History); got != 6 {
			t.Fatalf("history has %d messages, want 6", got)
		}
		if w2.History[0].From != "bot" || w2.History[2].From != "visitor" || w2.History[2].Text != "Show me a demo" {
			t.Errorf("history = %+v", w2.History)
		}
		for i := 1; i < len(w2.History); i++ {
			if w2.History[i-1].ID >= w2.History[i].ID {
				t.Errorf("history out of order at %d", i)
			}
		}
	})
	t.Run("NoSessionNamedResumesLatest", func(t *testing.T) {
		e := mustEnv(t, widget.Config{})
		b := widgettest.NewJar()
		w1 := e.dial(b).MustHello(widgettest.Hello{})
		w2 := e.dial(b).MustHello(widgettest.Hello{})
		if !*w2.Resumed || w2.Session != w1.Session {
			t.Fatalf("second hello got session %s resumed=%v, want %s resumed", w2.Session, *w2.Resumed, w1.Session)
		}
	})
	t.Run("OtherVisitor", func(t *testing.T) {
		e := mustEnv(t, widget.Config{})
		w1 := e.dial(widgettest.NewJar()).MustHello(widgettest.Hello{})
		w2 := e.dial(widgettest.NewJar()).MustHello(widgettest.Hello{Session: w1.Session})
		if *w2.Resumed || w2.Session == w1.Session || w2.Visitor == w1.Visitor {
			t.Fatalf("another browser naming session %s got %+v, want a new visitor and session", w1.Session, w2)
		}
	})
	t.Run("IdlePastTimeout", func(t *testing.T) {
		e := mustEnv(t, widget.Config{})
		b := widgettest.NewJar()
		w1 := e.dial(b).MustHello(widgettest.Hello{})
		e.clock.Advance(31 * time.Minute)
		w2 := e.dial(b).MustHello(widgettest.Hello{Session: w1.Session})
		if *w2.Resumed || w2.Session == w1.Session || w2.Visitor != w1.Visitor {
			t.Fatalf("after 31 idle minutes got %+v, want a new session of the same visitor", w2)
		}
	})
	t.Run("WithinTimeout", func(t *testing.T) {
		e := mustEnv(t, widget.Config{})
		b := widgettest.NewJar()
		w1 := e.dial(b).MustHello(widgettest.Hello{})
		e.clock.Advance(29 * time.Minute)
		if w2 := e.dial(b).MustHello(widgettest.Hello{Session: w1.Session}); !*w2.Resumed {
			t.Fatalf("after 29 idle minutes the session was not resumed")
		}
	})
}

func TestSend_Idempotent(t *testing.T) {
	e := mustEnv(t, widget.Config{})
	b := widgettest.NewJar()
	c := e.dial(b)
	w := c.MustHello(widgettest.Hello{})
	c.ExpectPrompt()
	c.MustText("c1", "hello there")
	first := c.Expect("ack")
	c.Expect("message") // the fallback's answer
	c.Close()

	// After a reconnect, from another tab, with other content: the same ack.
	c2 := e.dial(b)
	c2.MustHello(widgettest.Hello{Session: w.Session})
	c2.MustText("c1", "something else")
	again := c2.Expect("ack")
	if again.ID != first.ID || again.At != first.At {
		t.Fatalf("resend ack = %+v, want the original %+v", again, first)
	}
	msgs, err := e.store.Messages(context.Background(), w.Session, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if m.From == storage.FromVisitor {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("stored %d visitor messages, want 1", n)
	}

	// A resend the story would now refuse (the question is answered) still
	// gets its original ack, not an error.
	c2.MustChoice("c2", "menu", "demo")
	choiceAck := c2.Expect("ack")
	c2.ExpectPrompt()
	c2.MustChoice("c2", "menu", "pricing")
	if again := c2.Expect("ack"); again.ID != choiceAck.ID {
		t.Fatalf("resent choice got ack %+v, want the original %+v", again, choiceAck)
	}
	c2.MustInput("c3", "ask_name", "Ann")
	nameAck := c2.Expect("ack")
	c2.ExpectPrompt()
	c2.MustInput("c3", "ask_name", "   ")
	if again := c2.Expect("ack"); again.ID != nameAck.ID {
		t.Fatalf("resent input got %+v, want the original ack %+v", again, nameAck)
	}
}

func TestIdentity(t *testing.T) {
	t.Run("CookieKeepsVisitor", func(t *testing.T) {
		e := mustEnv(t, widget.Config{})
		b := widgettest.NewJar()
		w1 := e.dial(b).MustHello(widgettest.Hello{})
		e.clock.Advance(time.Hour)
		if w2 := e.dial(b).MustHello(widgettest.Hello{}); w2.Visitor != w1.Visitor {
			t.Fatalf("same browser got visitor %s, want %s", w2.Visitor, w1.Visitor)
		}
	})
	t.Run("TokenWithoutCookie", func(t *testing.T) {
		e := mustEnv(t, widget.Config{})
		w1 := e.dial(widgettest.NewJar()).MustHello(widgettest.Hello{})
		w2 := e.dial(widgettest.NewJar()).MustHello(widgettest.Hello{Token: w1.Token})
		if w2.Visitor != w1.Visitor {
			t.Fatalf("token of %s gave visitor %s", w1.Visitor, w2.Visitor)
		}
	})
	t.Run("ForgedToken", func(t *testing.T) {
		e := mustEnv(t, widget.Config{})
		w1 := e.dial(widgettest.NewJar()).MustHello(widgettest.Hello{})
		forged := w1.Token[:len(w1.Token)-2] + "xx"
		w2 := e.dial(widgettest.NewJar()).MustHello(widgettest.Hello{Token: forged})
		if w2.Visitor == w1.Visitor {
			t.Fatal("a forged token was trusted")
		}
	})
	t.Run("ForgedCookie", func(t *testing.T) {
		e := mustEnv(t, widget.Config{})
		b := widgettest.NewJar()
		w1 := e.dial(b).MustHello(widgettest.Hello{})
		u := mustParseURL(t, e.srv.URL)
		// Keep the visitor ID, break the signature.
		for _, ck := range b.Cookies(u) {
			ck.Value = ck.Value[:len(ck.Value)-2] + "xx"
			b.SetCookies(u, []*http.Cookie{ck})
		}
		if w2 := e.dial(b).MustHello(widgettest.Hello{}); w2.Visitor == w1.Visitor {
			t.Fatal("a forged cookie was trusted")
		}
	})
	t.Run("CookieAttributes", func(t *testing.T) {
		e := mustEnv(t, widget.Config{})
		ctx := context.Background()
		c, resp, err := widgettest.Dial(ctx, e.wsURL(), widgettest.Options{Origin: testOrigin})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		set := resp.Header.Get("Set-Cookie")
		for _, want := range []string{"parley_vid=", "HttpOnly", "Secure", "SameSite=None", "Partitioned", "Path=/"} {
			if !strings.Contains(set, want) {
				t.Errorf("Set-Cookie %q lacks %q", set, want)
			}
		}
	})
}

func TestHandshake(t *testing.T) {
	e := mustEnv(t, widget.Config{})
	tests := []struct {
		name, site, origin string
		want               int
	}{
		{"UnknownSite", "nope", testOrigin, 404},
		{"WrongOrigin", "demo", "https://evil.example", 403},
		{"WrongScheme", "demo", "https://localhost:5173", 403},
		{"NoOrigin", "demo", "", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, err := widgettest.Dial(context.Background(), widgettest.URL(e.srv.URL, tt.site), widgettest.Options{Origin: tt.origin})
			if err == nil || resp == nil || resp.StatusCode != tt.want {
				t.Fatalf("got err=%v resp=%v, want status %d", err, resp, tt.want)
			}
		})
	}
}

func TestFrames_Bad(t *testing.T) {
	e := mustEnv(t, widget.Config{TextLimit: 100})
	c := e.dial(widgettest.NewJar())
	c.MustText("c0", "before hello")
	if f := c.Expect("error"); f.Code != "hello_first" {
		t.Fatalf("got %+v, want hello_first", f)
	}
	w := c.MustHello(widgettest.Hello{})
	c.ExpectPrompt()

	for _, tt := range []struct{ name, raw, code string }{
		{"Malformed", `{"type":"text",`, "bad_frame"},
		{"NotAnObject", `[1,2]`, "bad_frame"},
		{"UnknownType", `{"type":"dance","id":"x"}`, "unknown_type"},
		{"TextWithoutID", `{"type":"text","text":"hi"}`, "bad_frame"},
		{"TextTooLong", `{"type":"text","id":"c9","text":"` + strings.Repeat("a", 101) + `"}`, "text_too_long"},
		{"StaleChoice", `{"type":"choice","id":"c8","block":"offer_file","option":"yes"}`, "not_pending"},
		{"UnknownOption", `{"type":"choice","id":"c7","block":"menu","option":"nope"}`, "unknown_option"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.MustSendRaw([]byte(tt.raw))
			if f := c.Expect("error"); f.Code != tt.code {
				t.Fatalf("got %+v, want %s", f, tt.code)
			}
		})
	}
	// The connection is still up and nothing was stored.
	c.MustChoice("ok", "menu", "demo")
	c.Expect("ack")
	msgs, _ := e.store.Messages(context.Background(), w.Session, 0)
	visitorMsgs := 0
	for _, m := range msgs {
		if m.From == storage.FromVisitor {
			visitorMsgs++
		}
	}
	if visitorMsgs != 1 {
		t.Fatalf("stored %d visitor messages after bad frames, want 1", visitorMsgs)
	}

	t.Run("OverReadLimit", func(t *testing.T) {
		c.MustSendRaw([]byte(`{"type":"text","id":"big","text":"` + strings.Repeat("a", 9<<10) + `"}`))
		c.ExpectClose(widgettest.StatusTooBig) // past frames still queued from before
	})
}

func TestMultiTab(t *testing.T) {
	e := mustEnv(t, widget.Config{})
	b := widgettest.NewJar()
	a := e.dial(b)
	w := a.MustHello(widgettest.Hello{})
	a.ExpectPrompt()
	tab2 := e.dial(b)
	if w2 := tab2.MustHello(widgettest.Hello{Session: w.Session}); !*w2.Resumed {
		t.Fatal("second tab did not join the session")
	}
	a.MustChoice("c1", "menu", "pricing")
	a.Expect("ack")
	got := tab2.Expect("message")
	if got.From != "visitor" || got.Text != "Pricing" || got.Ref != "c1" {
		t.Fatalf("other tab got %+v, want the visitor's choice", got)
	}
	if p := tab2.ExpectPrompt(); p.Block != "ask_name" {
		t.Fatalf("other tab got prompt %q, want ask_name", p.Block)
	}
}

func TestStore_SurvivesReopen(t *testing.T) {
	e := mustEnv(t, widget.Config{})
	b := widgettest.NewJar()
	c := e.dial(b)
	w := walkToEmail(t, c)
	c.Close()
	e.reopen()

	c2 := e.dial(b)
	w2 := c2.MustHello(widgettest.Hello{Session: w.Session})
	if !*w2.Resumed || len(w2.History) != 6 || w2.Visitor != w.Visitor {
		t.Fatalf("after reopening: resumed=%v history=%d visitor=%s, want the session with 6 messages", *w2.Resumed, len(w2.History), w2.Visitor)
	}
	// The ledger survived too: a resend is still recognised.
	c2.MustText("c2", "Ann")
	if ack := c2.Expect("ack"); ack.ID != w2.History[4].ID {
		t.Fatalf("resend after reopen acked %s, want the stored %s", ack.ID, w2.History[4].ID)
	}
}

func TestShutdown_ClosesWith1001(t *testing.T) {
	e := mustEnv(t, widget.Config{})
	c := e.dial(widgettest.NewJar())
	c.MustHello(widgettest.Hello{})
	// The client keeps reading, as a browser does, so it answers the close.
	closed := c.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.gw.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := widgettest.CloseStatus(<-closed); got != widgettest.StatusGoingAway {
		t.Fatalf("close status = %v, want 1001", got)
	}
}

func mustParseURL(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// walkToUpload starts a new session and answers the story up to its
// request for a file, which it returns.
func walkToUpload(t *testing.T, c *widgettest.Client) (welcome, prompt widgettest.Frame) {
	t.Helper()
	welcome = walkToEmail(t, c)
	c.MustInput("c3", "ask_email", "ann@example.org")
	c.Expect("ack")
	c.ExpectPrompt()
	c.MustText("c4", "+49 30 1234567")
	c.Expect("ack")
	c.ExpectPrompt()
	c.MustChoice("c5", "offer_file", "yes")
	c.Expect("ack")
	return welcome, c.ExpectPrompt()
}

func TestConversation_UploadPromptCarriesSiteCap(t *testing.T) {
	e := mustEnv(t, widget.Config{})
	_, p := walkToUpload(t, e.dial(widgettest.NewJar()))
	if p.Upload == nil {
		t.Fatalf("prompt %+v has no upload", p)
	}
	up := *p.Upload
	if up.MaxBytes != 10<<20 || len(up.Accept) == 0 {
		t.Fatalf("upload prompt = %+v, want the site's 10 MiB cap and an accept list", up)
	}
}

func TestErase_LiveSockets(t *testing.T) {
	// A visitor erased while its tab is open: the socket is closed with
	// StatusErased (not left to fail every frame with "internal"), other
	// visitors go on, and the same browser comes back to a new, empty
	// conversation.
	ctx := context.Background()
	e := mustEnv(t, widget.Config{})
	ann := widgettest.NewJar()
	a := e.dial(ann)
	wa := a.MustHello(widgettest.Hello{})
	a.ExpectPrompt()
	b := e.dial(widgettest.NewJar())
	b.MustHello(widgettest.Hello{})
	b.ExpectPrompt()

	// The erase itself stops the visitor's live sessions (storage's
	// OnErase, which the gateway registers): nothing else is called.
	if _, err := e.store.EraseVisitor(ctx, wa.Visitor); err != nil {
		t.Fatal(err)
	}
	if n := e.gw.DropVisitor(wa.Visitor); n != 0 {
		t.Errorf("DropVisitor after the erase closed %d sockets, want 0: the erase closed them", n)
	}
	expectClosed(t, a, widget.StatusErased)
	if got := e.gw.Stats.Closed("erased"); got != 1 {
		t.Errorf("closed for erased = %d, want 1", got)
	}

	b.MustChoice("b1", "menu", "demo")
	if f := b.Expect("ack"); f.Ref != "b1" {
		t.Errorf("the other visitor's ack: %+v", f)
	}

	a2 := e.dial(ann)
	w2 := a2.MustHello(widgettest.Hello{Session: wa.Session, Token: wa.Token})
	if w2.Resumed == nil || *w2.Resumed || len(w2.History) != 0 || w2.Session == wa.Session {
		t.Errorf("after the erase: welcome %+v, want a new, empty session", w2)
	}
	a2.ExpectPrompt()

	// Erased without DropVisitor (a retention sweep, or the erase racing a
	// turn): the socket's next frame finds its session gone and closes it
	// the same way.
	if _, err := e.store.EraseVisitor(ctx, w2.Visitor); err != nil {
		t.Fatal(err)
	}
	a2.MustText("a1", "still there?")
	expectClosed(t, a2, widget.StatusErased)
}

// expectClosed reads until the socket closes and checks its status.
func expectClosed(t *testing.T, c *widgettest.Client, want websocket.StatusCode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		f, err := c.Read(ctx)
		if err == nil {
			if f.Type == widgettest.TypeAck {
				t.Errorf("an ack after the erase: %+v", f)
			}
			continue
		}
		if got := widgettest.CloseStatus(err); got != want {
			t.Fatalf("socket ended with %v (status %d), want status %d", err, got, want)
		}
		return
	}
}

func TestRetention_LiveSockets(t *testing.T) {
	// A retention sweep goes through the owners of live sessions: a visitor
	// long gone whose tab is still open is erased and its socket closed
	// with StatusErased (no later frame is acked for data that is gone),
	// and the log says so; a visitor who just chatted is kept, whatever its
	// tab's age.
	ctx := context.Background()
	var logs lockedBuffer
	e := mustEnv(t, widget.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	old := e.dial(widgettest.NewJar())
	wOld := old.MustHello(widgettest.Hello{})
	old.ExpectPrompt()
	e.clock.Advance(40 * 24 * time.Hour)
	recent := e.dial(widgettest.NewJar())
	wRecent := recent.MustHello(widgettest.Hello{})
	recent.ExpectPrompt()
	recent.MustChoice("r1", "menu", "demo")
	if f := recent.Expect("ack"); f.Ref != "r1" {
		t.Fatalf("recent visitor's ack: %+v", f)
	}
	recent.ExpectPrompt()

	res, err := e.store.SweepRetention(ctx, e.clock.Now(), storage.Retention{Default: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Visitors != 1 {
		t.Fatalf("sweep erased %d visitors, want the one long gone", res.Visitors)
	}
	expectClosed(t, old, widget.StatusErased)
	if want := "visitor=" + wOld.Visitor + " sockets=1"; !strings.Contains(logs.String(), want) {
		t.Errorf("log %q lacks %q", logs.String(), want)
	}
	if _, err := e.store.Visitor(ctx, wOld.Visitor); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("old visitor after the sweep: %v, want ErrNotFound", err)
	}
	if _, err := e.store.Visitor(ctx, wRecent.Visitor); err != nil {
		t.Errorf("recent visitor after the sweep: %v, want it kept", err)
	}
	recent.MustText("r2", "still here")
	if f := recent.Expect("ack"); f.Ref != "r2" {
		t.Errorf("recent visitor after the sweep: %+v, want its ack", f)
	}
}

// TestFileUploaded_Once: a file's message is stored once, however often
// its call comes. With several nodes, the node that took the upload asks
// the session's owner again when the owner died before answering, and
// the owner after it (here: the gateway reopened on the same store) may
// find the message stored already.
func TestFileUploaded_Once(t *testing.T) {
	e := mustEnv(t, widget.Config{})
	c := e.dial(widgettest.NewJar())
	w, _ := walkToUpload(t, c)
	ctx := context.Background()
	now := e.clock.Now()
	ref := storage.FileRef{ID: storage.NewID(now), Name: "scan.pdf", Size: 9, Type: "application/pdf", At: now}

	first, err := e.gw.FileUploaded(ctx, "demo", w.Session, ref)
	if err != nil {
		t.Fatal(err)
	}
	if m := untilVisitorFile(t, c); m.ID != first.ID || m.Ref != "" {
		t.Fatalf("the tab was sent file message %s ref %q, want %s without a ref", m.ID, m.Ref, first.ID)
	}
	again, err := e.gw.FileUploaded(ctx, "demo", w.Session, ref)
	if err != nil || again.ID != first.ID {
		t.Fatalf("the call again: %s, %v; want the stored %s", again.ID, err, first.ID)
	}
	c.Close()
	e.reopen()
	if again, err := e.gw.FileUploaded(ctx, "demo", w.Session, ref); err != nil || again.ID != first.ID {
		t.Fatalf("the call again after a reopen: %s, %v; want the stored %s", again.ID, err, first.ID)
	}

	_, msgs := e.transcript(w.Session)
	var files, thanks int
	for _, m := range msgs {
		if m.File != nil && m.File.ID == ref.ID {
			files++
		}
		if m.From == storage.FromBot && strings.Contains(m.Text, "Got it") {
			thanks++
		}
	}
	if files != 1 || thanks != 1 {
		t.Errorf("the transcript holds the file %d times and the bot's thanks %d times, want each once", files, thanks)
	}
}

// untilVisitorFile reads c's frames up to a visitor's file message.
func untilVisitorFile(t *testing.T, c *widgettest.Client) widgettest.Frame {
	t.Helper()
	for {
		if f := c.Next(); f.Type == widgettest.TypeMessage && f.From == "visitor" && f.File != nil {
			return f
		}
	}
}
