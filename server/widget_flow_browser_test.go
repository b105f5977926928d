package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/storage"
)

// The visitor's way through a conversation never gets stuck: an open
// question stays answerable (buttons, a typed label, the paperclip, a
// skip), the end says so and offers a new start, the panel follows the
// visitor across pages, a page view costs nothing, and a refused page
// says "Chat unavailable". Each test drives the real widget in Chromium.

// btAdminJSON GETs an admin API path and decodes the answer.
func btAdminJSON[T any](tb testing.TB, p *btParley, path string) T {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+btAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s %v", path, resp.Status, err)
	}
	return v
}

// btMetrics returns Parley's /metrics text (with the admin token, which
// it needs on the public address).
func btMetrics(tb testing.TB, p *btParley) string {
	tb.Helper()
	_, b := admintest.Do(tb, "GET", p.URL+"/metrics", admintest.Auth(btAdminToken))
	return string(b)
}

// optionsUsable is a JS expression: every button of option id is enabled.
func optionsUsable(id string) string {
	return fmt.Sprintf(`(b => b.length > 0 && b.every(x => !x.disabled))(__qa('button.opt[data-option="%s"]'))`, id)
}

// walkToFileOffer answers the name, email and phone questions by typing.
func (b *browserTab) walkToFileOffer() {
	b.tb.Helper()
	b.walkToName()
	b.typeText("input.in", "Ann\n")
	b.waitJS(`__has('bot', "What's your email address?")`, "the email question")
	b.typeText("input.in", "ann@example.org\n")
	b.waitJS(`__has('bot', 'And a phone number')`, "the phone question")
	b.typeText("input.in", "+49 30 1234567\n")
	b.waitJS(optionsUsable("no"), "the file offer")
}

func TestBrowser_TypeThenClick(t *testing.T) {
	p, _, b := btHostPage(t, "/")
	b.open()
	b.waitJS(optionsUsable("demo"), "the menu")

	// Most visitors type before they click: the fallback answers, the
	// menu comes again, and every menu button still works.
	b.typeText("input.in", "I need a bike for Saturday\n")
	b.waitJS(`__has('visitor', 'I need a bike') && __has('bot', 'please use the buttons')`, "the fallback")
	b.waitJS(`__qa('.msg.bot .opts').length === 2 && `+optionsUsable("demo"), "the menu asked again, all buttons enabled")
	b.screenshot(t, "widget-typed-then-menu-open.png")

	// A reload keeps the question open: the history says which one it is.
	b.reload()
	b.waitJS(`__ready.length === 1 && __ready[0].resumed && !__q('#parley-panel').hidden`, "the resumed session, panel open")
	b.waitJS(optionsUsable("demo"), "the menu's buttons enabled after the reload")

	// Clicking the first (original) button is the answer.
	b.click(`button.opt[data-option="demo"]`)
	b.waitJS(`__has('visitor', 'Show me a demo') && __has('bot', "What's your first name?")`, "the name question after the click")
	b.waitJS(`__qa('button.opt').every(x => x.disabled)`, "the answered menu disabled")
	msgs := storedMessages(t, p, b.welcomes()[0].Session)
	last := msgs[len(msgs)-2]
	if last.Kind != storage.KindChoice || last.Option != "demo" {
		t.Errorf("the click is stored as %+v, want the choice demo", last)
	}
}

func TestBrowser_TypeLabel(t *testing.T) {
	p, _, b := btHostPage(t, "/")
	b.open()
	b.waitJS(optionsUsable("demo"), "the menu")
	b.typeText("input.in", "  show me a DEMO\n")
	b.waitJS(`__has('bot', "What's your first name?")`, "the name question after the typed label")
	b.waitJS(`__q('button.opt[data-option="demo"]').getAttribute('aria-pressed') === 'true' && __has('visitor', 'Show me a demo')`, "the typed label shown as the click")
	b.screenshot(t, "widget-typed-label.png")
	sess, err := p.Server().Store.Session(context.Background(), b.welcomes()[0].Session)
	if err != nil {
		t.Fatal(err)
	}
	if !sess.Engaged || sess.State.Pending != "ask_name" {
		t.Errorf("after the typed label: engaged %v pending %q, want engaged at ask_name", sess.Engaged, sess.State.Pending)
	}
}

func TestBrowser_UploadStaysOpenAndSkips(t *testing.T) {
	p, _, b := btHostPage(t, "/")
	b.walkToFileOffer()
	b.click(`button.opt[data-option="yes"]`)
	b.waitJS(`__has('bot', 'Pick an image or a PDF') && !__q('button.att').hidden`, "the upload prompt")

	// Free text while a file is asked for keeps the paperclip, also after
	// a reload, and the skip button.
	b.typeText("input.in", "where is the button?\n")
	b.waitJS(`__has('bot', 'please use the buttons') && __qa('.msg.bot .opts').length >= 2`, "the fallback and the upload asked again")
	b.waitJS(`!__q('button.att').hidden && `+optionsUsable("skip"), "the paperclip and the skip button")
	b.reload()
	b.waitJS(`__ready.length === 1 && __ready[0].resumed`, "the resumed session")
	b.waitJS(`!__q('button.att').hidden && `+optionsUsable("skip"), "the paperclip and the skip button after the reload")
	b.screenshot(t, "widget-upload-open-skip.png")

	w := b.welcomes()[0]
	b.click(`button.opt[data-option="skip"]`)
	b.waitJS(`__has('visitor', 'Skip the file') && __has('bot', "we'll be in touch soon")`, "the story going on without a file")
	b.waitJS(`__q('button.att').hidden && !__q('button.again').hidden`, "the paperclip gone, the end shown")
	sess, err := p.Server().Store.Session(context.Background(), w.Session)
	if err != nil {
		t.Fatal(err)
	}
	if !sess.State.Ended || sess.HasFiles {
		t.Errorf("after the skip: ended %v files %v, want ended without files", sess.State.Ended, sess.HasFiles)
	}

	t.Run("ComeBackAfterEnd", func(t *testing.T) {
		// The panel stays open across the reload, and the ended
		// conversation is not resumed: a new one starts.
		b := b.on(t)
		b.reload()
		b.waitJS(`__ready.length === 1 && !__q('#parley-panel').hidden`, "a welcome with the panel open")
		if w2 := b.welcomes()[0]; w2.Resumed || w2.Session == w.Session || w2.Visitor != w.Visitor {
			t.Fatalf("after the end and a reload: %+v, want a new session of visitor %s", w2, w.Visitor)
		}
		b.waitJS(optionsUsable("demo")+` && __q("input.in").placeholder === "Type a message\u2026"`, "the new conversation's menu")
	})
}

func TestBrowser_EndThenStartOver(t *testing.T) {
	p, _, b := btHostPage(t, "/")
	b.walkToFileOffer()
	w := b.welcomes()[0]
	b.click(`button.opt[data-option="no"]`)
	b.waitJS(`__has('bot', "we'll be in touch soon")`, "the end")
	b.waitJS(`!__q('button.again').hidden && __q('input.in').disabled && __q('input.in').placeholder === 'This conversation has ended.'`, "the ended state")
	b.waitJS(`__qa('button.opt').every(x => x.disabled) && !sessionStorage.getItem('parley:demo:session')`, "no question open, the session forgotten")
	b.screenshot(t, "widget-ended.png")
	if got := btEval[string](b, `Parley.send('one more thing')`); got != "" {
		t.Errorf("Parley.send after the end = %q, want nothing sent", got)
	}
	ended := func() bool {
		s := btAdminJSON[struct {
			State struct {
				Ended bool `json:"ended"`
			} `json:"state"`
		}](t, p, "/admin/api/sessions/"+w.Session)
		return s.State.Ended
	}
	if !ended() {
		t.Fatal("the console does not show the session as ended")
	}

	b.click("button.again")
	b.waitJS(`__ready.length === 2`, "a second welcome")
	w2 := b.welcomes()[1]
	if w2.Resumed || w2.Session == w.Session || w2.Visitor != w.Visitor {
		t.Fatalf("start over: %+v, want a new session of visitor %s", w2, w.Visitor)
	}
	b.waitJS(`__q('button.again').hidden && !__q('input.in').disabled && `+optionsUsable("demo"), "the new conversation")
	if got := btEval[int](b, `__qa('.msg').length`); got != 2 {
		t.Errorf("the new conversation shows %d messages, want its 2 opening ones", got)
	}
	b.screenshot(t, "widget-started-over.png")
	b.click(`button.opt[data-option="pricing"]`)
	b.waitJS(`__has('bot', 'Parley is free')`, "the new session answering")
	if !ended() {
		t.Error("the first session is no longer ended")
	}
	if n := len(p.Handshakes()); n != 1 {
		t.Errorf("%d handshakes, want 1: the new session starts on the open socket", n)
	}
}

func TestBrowser_ValidationIsTheStorys(t *testing.T) {
	_, _, b := btHostPage(t, "/")
	b.walkToName()
	b.typeText("input.in", "Alex\n")
	b.waitJS(`__has('bot', "What's your email address?")`, "the email question")
	if id := btEval[string](b, `Parley.send('alex@rider')`); id == "" {
		t.Fatal("Parley.send('alex@rider') was refused in the browser; the server should judge it")
	}
	b.waitJS(`__has('bot', "Hmm, that doesn't look like an email address.")`, "the story's retry text")
	b.waitJS(`__q('input.in').value === 'alex@rider' && __q('input.in').getAttribute('aria-invalid') === 'true'`, "the value given back")
}

func TestBrowser_PanelAcrossPages(t *testing.T) {
	_, site, b := btHostPage(t, "/")
	b.open()
	b.waitJS(optionsUsable("demo"), "the menu")
	for i := range 4 {
		b.typeText("input.in", fmt.Sprintf("question %d\n", i))
		b.waitJS(fmt.Sprintf(`__has('visitor', 'question %d') && __qa('.msg.bot .opts').length === %d`, i, i+2), "the fallback")
	}
	b.waitJS(`(l => l.scrollHeight > l.clientHeight + 200)(__q('#parley-log'))`, "a log longer than the panel")
	btEval[bool](b, `__q('#parley-log').scrollTop = 120, true`)
	b.waitJS(`sessionStorage.getItem('parley:demo:scroll') === '120' && sessionStorage.getItem('parley:demo:open') === '1'`, "the scroll and the open panel remembered")
	w := b.welcomes()[0]

	b.navigate(site + "/page2")
	b.waitJS(`__ready.length === 1 && !__q('#parley-panel').hidden`, "the panel open on the next page")
	if w2 := b.welcomes()[0]; !w2.Resumed || w2.Session != w.Session {
		t.Fatalf("on page 2: %+v, want session %s resumed", w2, w.Session)
	}
	b.waitJS(`__qa('.msg').length >= 14 && __q('#parley-log').scrollTop === 120`, "the scroll position restored")
	b.screenshot(t, "widget-page2-restored.png")

	// Closed on one page, closed on the next; the conversation reconnects.
	b.click("button.close")
	b.waitJS(`__q('#parley-panel').hidden && sessionStorage.getItem('parley:demo:open') === '0'`, "the panel closed")
	b.navigate(site + "/")
	b.waitJS(`__ready.length === 1 && __ready[0].resumed`, "the conversation reconnected")
	if !btEval[bool](b, `__q('#parley-panel').hidden`) {
		t.Error("the panel opened on the next page although it was closed")
	}
	// Closed by the visitor wins over the page's data-open.
	b.navigate(site + "/options")
	b.waitJS(`__ready.length === 1`, "the conversation reconnected")
	if !btEval[bool](b, `__q('#parley-panel').hidden`) {
		t.Error("data-open reopened the panel the visitor had closed")
	}
}

func TestBrowser_PageViewIsNoVisitor(t *testing.T) {
	p, site, b := btHostPage(t, "/")
	b.navigate(site + "/page2")
	time.Sleep(700 * time.Millisecond) // time enough to misbehave
	if n := len(p.Requests("/v1/ws")); n != 0 {
		t.Errorf("%d requests to /v1/ws from page views, want none", n)
	}
	type list struct {
		Items []json.RawMessage `json:"items"`
	}
	type usage struct {
		Total int `json:"total"`
	}
	if u := btAdminJSON[list](t, p, "/admin/api/users"); len(u.Items) != 0 {
		t.Errorf("%d visitors after two page views, want none", len(u.Items))
	}
	if s := btAdminJSON[list](t, p, "/admin/api/sessions"); len(s.Items) != 0 {
		t.Errorf("%d sessions after two page views, want none", len(s.Items))
	}
	if u := btAdminJSON[usage](t, p, "/admin/api/usage"); u.Total != 0 {
		t.Errorf("usage counts %d sessions after two page views, want 0", u.Total)
	}
	if m := btMetrics(t, p); !strings.Contains(m, "parley_widget_loads_total ") || !strings.Contains(m, "parley_sessions_started_total 0\n") {
		t.Errorf("metrics lack the widget loads or count a session:\n%s", m)
	}
	b.screenshot(t, "widget-page-view-closed.png")

	// Opening the chat is what starts a visitor and a session.
	b.open()
	b.waitJS(`__ready.length === 1`, "the welcome")
	if u := btAdminJSON[usage](t, p, "/admin/api/usage"); u.Total != 1 {
		t.Errorf("usage after opening = %d, want 1", u.Total)
	}

	t.Run("Greeting", func(t *testing.T) {
		// A proactive greeting (data-greet) opens the conversation without
		// the panel: the opening messages show as unread.
		b := btBrowser(t, browserOptions{})
		b.navigate(site + "/greet")
		b.waitJS(`__ready.length === 1 && __q('#parley-panel').hidden`, "the welcome without opening")
		b.waitJS(`!__q('.launcher .badge').hidden && __q('.launcher .badge').firstChild.textContent === '2'`, "the unread badge")
		b.screenshot(t, "widget-greeting-badge.png")
		if u := btAdminJSON[usage](t, p, "/admin/api/usage"); u.Total != 2 {
			t.Errorf("usage after the greeting = %d, want 2", u.Total)
		}
	})
}

func TestBrowser_Refused(t *testing.T) {
	p := btStartParley(t)
	site := btHostSite(t, p.URL)
	b := btBrowser(t, browserOptions{})
	check := func(t *testing.T, b *browserTab, url, text, reason, shot string) {
		t.Helper()
		n := len(p.Handshakes())
		b.navigate(url)
		b.open()
		b.waitJS(fmt.Sprintf(`!__q('.status').hidden && __q('.status').textContent === %q`, text), text)
		b.waitJS(fmt.Sprintf(`__warn.some(w => w.includes('Parley: chat unavailable') && w.includes(%q))`, reason), "the reason in the console")
		b.waitJS(`__q('input.in').disabled`, "the message box disabled")
		b.screenshot(t, shot)
		time.Sleep(3 * time.Second) // retries would come now
		if got := len(p.Handshakes()) - n; got != 1 {
			t.Errorf("%d handshakes, want 1 and no retry", got)
		}
		t.Logf("console: %s", btEval[string](b, `__warn.join('\n')`))
	}
	t.Run("UnknownSite", func(t *testing.T) {
		check(t, b.on(t), site+"/nosite", "Chat nicht verf\u00fcgbar", "unknown_site", "widget-unavailable-de.png")
	})
	t.Run("WrongOrigin", func(t *testing.T) {
		check(t, b.on(t), btForeignHost(t, p.URL)+"/", "Chat unavailable", "origin_not_allowed", "widget-unavailable.png")
	})
	m := btMetrics(t, p)
	for _, want := range []string{`parley_connections_refused_total{reason="unknown_site"} 1`, `parley_connections_refused_total{reason="origin_not_allowed"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
