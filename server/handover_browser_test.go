package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
)

// TestBrowser_Handover runs a hand-over end to end through the real server
// and two headless Chromium browsers: a visitor on a host site clicking
// the widget's real buttons, and an agent signed in to the console. The
// story asks for a person; the inbox shows it within a second; the agent
// takes it (a second agent's take is refused); both sides see each
// other's messages and typing; the visitor's text while held gets no bot
// answer; a reload mid-handover shows everything; the agent hands back and
// the story goes on.
func TestBrowser_Handover(t *testing.T) {
	p := btStartParleySites(t, widget.Config{}, []*widget.Site{hoSite(t, time.Hour)})
	anaSecret := hoAddAgent(t, p.URL, btAdminToken, "ana", "Ana Lopez")
	boSecret := hoAddAgent(t, p.URL, btAdminToken, "bo", "Bo")

	// The agent signs in to the console once and opens the inbox.
	con := consoleBrowser(t)
	con.do(chromedp.Navigate(p.URL + "/admin/"))
	con.waitJS(`!document.querySelector("#login").hidden`, "the sign-in form")
	con.do(chromedp.SendKeys("#agent-name", "ana"), chromedp.SendKeys("#token", anaSecret), chromedp.Click("#login-form button[type=submit]"))
	con.waitJS(`!document.querySelector("#app").hidden && document.querySelector("#whoami").textContent === "Ana Lopez"`, "the console, signed in as Ana")
	if got := btEval[string](con.browserTab, `document.cookie + sessionStorage.getItem("parley.adminToken")`); got != "null" {
		t.Errorf("the page can read a credential: %q", got)
	}
	con.do(chromedp.Click(`a[data-nav="inbox"]`))
	con.waitJS(`document.querySelector("#inbox-waiting") && document.querySelector("#inbox-waiting").innerText.includes("Nobody is waiting")`, "the empty inbox")

	// The visitor clicks "Talk to a person".
	site := btHostSite(t, p.URL)
	vis := btBrowser(t, browserOptions{})
	vis.navigate(site + "/")
	vis.open()
	vis.waitJS(optionsUsable("person"), "the menu")
	vis.click(`button.opt[data-option="person"]`)
	vis.waitJS(`__has('bot', 'Connecting you to a person')`, "the handover text")
	asked := time.Now()
	con.waitJSFor(`document.querySelector("#inbox-waiting [data-session]")`, "the waiting conversation in the inbox", 2*time.Second)
	if d := time.Since(asked); d > time.Second {
		t.Errorf("the inbox showed the waiting conversation after %v, want within 1 s", d)
	} else {
		t.Logf("the inbox showed the waiting conversation %v after the visitor saw the handover text", d.Round(time.Millisecond))
	}
	if title := btEval[string](con.browserTab, `document.title`); !strings.HasPrefix(title, "(1) ") {
		t.Errorf("title %q, want the waiting count badge", title)
	}
	con.waitJS(`/waiting \d+ s/.test(document.querySelector("#inbox-waiting .waited").textContent)`, "how long it has waited")
	sid := btEval[string](con.browserTab, `document.querySelector("#inbox-waiting [data-session]").dataset.session`)
	con.shot("handover-01-inbox")
	t.Run("InboxAccessibility", func(t *testing.T) { consoleAxe(t, con.browserTab, btAxeSource(t), "the inbox") })

	// The badge can be switched off.
	con.do(chromedp.Click("#pref-badge"))
	con.waitJS(`!document.title.startsWith("(")`, "the title without the badge")
	con.do(chromedp.Click("#pref-badge"))

	// Ana takes it; Bo's take is refused.
	con.do(chromedp.Click(`#inbox-waiting button.take`))
	con.waitJS(`document.querySelector("#conv-status") && document.querySelector("#conv-status").textContent === "Held by Ana Lopez"`, "the conversation, held by Ana")
	bo := hoAgentClient(t, p.URL, "bo", boSecret)
	if status, body := hoCall(t, bo, "POST", p.URL+"/admin/api/sessions/"+sid+"/take", "", map[string]any{}); status != 409 || !strings.Contains(string(body), "held_by_other") {
		t.Errorf("Bo's take: %d %s, want 409 held_by_other", status, body)
	}
	vis.waitJS(`__qa('.note').some(n => n.textContent === 'Ana Lopez joined the conversation')`, "the visitor told a person joined")

	// Ana types: the visitor sees it; she sends: the visitor reads it, named.
	con.do(chromedp.SendKeys("#reply-text", "Hello"))
	vis.waitJS(`!__q('.typing').hidden`, "the agent typing, shown to the visitor")
	con.do(chromedp.SendKeys("#reply-text", ", I'm Ana. How can I help?"), chromedp.Click("#reply-send"))
	vis.waitJS(`__has('agent', "Hello, I'm Ana. How can I help?") && __qa('.msg.agent .who').some(w => w.textContent === 'Ana Lopez')`, "Ana's message, with her name")

	// The visitor types: Ana sees it; the visitor sends: Ana reads it and
	// the bot says nothing.
	vis.do(chromedp.SendKeys(btShadow("input.in"), "Can I"))
	con.waitJS(`!document.querySelector("#visitor-typing").hidden`, "the visitor typing, shown to Ana")
	vis.typeText("input.in", " bring it in on Saturday?\n")
	vis.waitJS(`__has('visitor', 'Can I bring it in on Saturday?')`, "the visitor's message stored")
	con.waitJS(`document.querySelector("#transcript").innerText.includes("Can I bring it in on Saturday?")`, "the visitor's message at Ana's")
	time.Sleep(300 * time.Millisecond) // a bot answer would be here by now
	msgs := storedMessages(t, p, sid)
	if last := msgs[len(msgs)-1]; last.From != storage.FromVisitor {
		t.Errorf("after the visitor's text while held the last message is %+v, want the visitor's: the bot answered", last)
	}
	if n := btEval[int](vis, `__msgs().filter(m => m.from === 'bot').length`); n != 2 {
		t.Errorf("the visitor sees %d bot messages, want 2 (the menu and the handover text)", n)
	}
	con.shot("handover-02-held")
	t.Run("ConsoleAccessibility", func(t *testing.T) { consoleAxe(t, con.browserTab, btAxeSource(t), "a held conversation") })

	// A reload mid-handover shows the whole conversation.
	vis.reload()
	vis.ensureOpen()
	vis.waitJS(`__has('agent', "I'm Ana") && __has('visitor', 'Saturday') && __has('bot', 'Connecting you') && __qa('.msg.agent .who').length === 1`, "everything after the reload")
	// This reply is stored but its answer is lost on the way back (the
	// page's fetch fails once after the server answered): the text stays,
	// Ana sends it again, and it is stored and shown once.
	btEval[bool](con.browserTab, `(() => {
		const real = window.fetch;
		let lose = true;
		window.fetch = async (url, opts) => {
			const resp = await real(url, opts);
			if (lose && opts && opts.method === "POST" && String(url).endsWith("/messages")) {
				lose = false;
				throw new TypeError("Failed to fetch");
			}
			return resp;
		};
		return true;
	})()`)
	con.do(chromedp.SendKeys("#reply-text", "Yes, Saturday works."), chromedp.Click("#reply-send"))
	vis.waitJS(`__has('agent', 'Saturday works')`, "Ana's reply in the reloaded page")
	con.waitJS(`document.querySelector("#reply-text").value === "Yes, Saturday works."`, "the reply kept, its answer lost")
	con.do(chromedp.Click("#reply-send"))
	con.waitJS(`document.querySelector("#reply-text").value === ""`, "the reply sent again, answered")
	time.Sleep(300 * time.Millisecond) // a second copy would be here by now
	stored := 0
	for _, m := range storedMessages(t, p, sid) {
		if m.Text == "Yes, Saturday works." {
			stored++
		}
	}
	if shown := btEval[int](vis, `__msgs().filter(m => m.text === 'Yes, Saturday works.').length`); stored != 1 || shown != 1 {
		t.Errorf("the reply sent again after its answer was lost: stored %d times, shown %d times; want once", stored, shown)
	}

	// Ana hands back where the story was: it goes on at the block's next.
	con.do(chromedp.Click("#handback"))
	con.waitJS(`document.querySelector("#conv-status").textContent === "The bot answers"`, "the bot answering again")
	vis.waitJS(`__qa('.note').some(n => n.textContent.includes('bot again')) && __has('bot', 'Nobody is free') && __has('bot', 'Your email')`, "the story going on")
	vis.typeText("input.in", "visitor@example.org\n")
	vis.waitJS(`__has('bot', 'Thanks, we will write to you')`, "the story's end of the lead")

	// The transcript names Ana; the inbox lists the conversation as open.
	msgs = storedMessages(t, p, sid)
	named := 0
	for _, m := range msgs {
		if m.From == storage.FromAgent && m.AgentName == "Ana Lopez" && m.Agent == "ana" {
			named++
		}
	}
	if named != 2 {
		t.Errorf("%d stored messages from Ana, want 2", named)
	}
	con.do(chromedp.Click(`a.back`))
	con.waitJS(`document.querySelector("#inbox-open [data-session]")`, "the handed-back conversation under open")
	sess, err := p.Server().Store.Session(context.Background(), sid)
	if err != nil || sess.State.Handover != nil {
		t.Errorf("session %+v, %v", sess, err)
	}

	// A private note, the assignee, and resolved: off the inbox.
	con.do(chromedp.Click(`#inbox-open a.title`))
	con.waitJS(`document.querySelector("#note-form")`, "the conversation's record")
	con.do(chromedp.SendKeys("#note-text", "Brings the bike Saturday 10:00."), chromedp.Click("#note-form button"))
	con.waitJS(`document.querySelector("#notes").innerText.includes("Saturday 10:00")`, "the note")
	con.set("#assignee", "bo")
	con.waitJS(`document.querySelector(".record").dataset.assignee === "bo"`, "assigned to Bo, as stored")
	con.do(chromedp.Click("#resolve"))
	con.waitJS(`document.querySelector("#conv-resolved").textContent === "resolved"`, "resolved")
	con.shot("handover-03-resolved")
	con.do(chromedp.Click(`a.back`))
	con.waitJS(`document.querySelector("#inbox-open") && document.querySelector("#inbox-open").innerText.includes("None")`, "the resolved conversation gone from the inbox")

	// One event stream served it all: live, not reconnects that list again.
	if n := len(p.Requests("/admin/api/inbox/events")); n != 1 {
		t.Errorf("%d event streams opened, want 1", n)
	}

	// Sign out ends the browser's sign-in.
	con.do(chromedp.Click("#logout"))
	con.waitJS(`!document.querySelector("#login").hidden`, "the sign-in form after sign-out")
	con.do(chromedp.Navigate(p.URL + "/admin/#/inbox"))
	con.waitJS(`!document.querySelector("#login").hidden`, "still signed out after a reload")
}

// TestBrowser_TakeOverUnasked: a person replies to a conversation whose
// story waits on a question; the widget then offers no story buttons
// until the person hands back, when the question is asked again.
func TestBrowser_TakeOverUnasked(t *testing.T) {
	p := btStartParleySites(t, widget.Config{}, []*widget.Site{hoSite(t, time.Hour)})
	site := btHostSite(t, p.URL)
	vis := btBrowser(t, browserOptions{})
	vis.navigate(site + "/")
	vis.open()
	vis.waitJS(optionsUsable("person"), "the menu")
	sid := vis.welcomes()[0].Session
	path := p.URL + "/admin/api/sessions/" + sid

	// A console signed in with the admin token follows the inbox too (its
	// stream read with fetch: an EventSource cannot send the token).
	con := consoleBrowser(t)
	con.do(chromedp.Navigate(p.URL + "/admin/"))
	con.waitJS(`!document.querySelector("#login").hidden`, "the sign-in form")
	con.do(chromedp.SendKeys("#token", btAdminToken), chromedp.Click("#login-form button[type=submit]"))
	con.waitJS(`!document.querySelector("#app").hidden`, "the console")
	con.do(chromedp.Click(`a[data-nav="inbox"]`))
	con.waitJS(`document.querySelector("#inbox-held") && document.querySelector("#inbox-held").innerText.includes("Nobody holds")`, "the empty inbox")

	if status, body := hoCall(t, nil, "POST", path+"/messages", btAdminToken, map[string]string{"text": "Hi, can I help you choose?"}); status != 201 {
		t.Fatalf("reply: %d %s", status, body)
	}
	con.waitJSFor(`document.querySelector("#inbox-held [data-session='`+sid+`']")`, "the conversation held by the admin, live", 2*time.Second)
	if n := len(p.Requests("/admin/api/inbox/events")); n != 1 {
		t.Errorf("%d event streams opened, want 1", n)
	}
	vis.waitJS(`__has('agent', 'can I help you choose') && __qa('.msg.agent .who').some(w => w.textContent === 'Support')`, "the person's message, named")
	vis.waitJS(`__qa('button.opt').every(b => b.disabled)`, "the story's buttons disabled while a person answers")
	t.Run("Accessibility", func(t *testing.T) { vis.axe(t, btAxeSource(t), "open, a person answering") })
	if status, body := hoCall(t, nil, "POST", path+"/handback", btAdminToken, map[string]any{}); status != 204 {
		t.Fatalf("hand back: %d %s", status, body)
	}
	vis.waitJS(`__qa('.note').some(n => n.textContent.includes('bot again')) && __qa('.msg.bot .opts').length === 2 && `+optionsUsable("person"), "the question asked again, its buttons usable")
	vis.click(`button.opt[data-option="person"]`)
	vis.waitJS(`__has('bot', 'Connecting you to a person')`, "the story going on from the click")

	// The admin adds an agent on the Agents page, gets its secret once,
	// and revokes it.
	con.do(chromedp.Click(`a[data-nav="agents"]`))
	con.waitJS(`document.querySelector("#agent-form")`, "the agents page")
	con.do(chromedp.SendKeys("#agent-new-name", "cy"), chromedp.SendKeys("#agent-new-display", "Cy Young"),
		chromedp.SendKeys("#agent-new-email", "cy@example.org"), chromedp.Click(`#agent-form button[type=submit]`))
	con.waitJS(`document.querySelector("#agent-secret-value") && document.querySelector('#agents-body tr[data-agent="cy"]')`, "the new agent and its secret")
	secret := btEval[string](con.browserTab, `document.querySelector("#agent-secret-value").textContent`)
	hoAgentClient(t, p.URL, "cy", secret) // signs in with it
	con.shot("agents-added")
	btEval[bool](con.browserTab, `(window.confirm = () => true, true)`)
	con.do(chromedp.Click(`#agents-body tr[data-agent="cy"] button.revoke`))
	con.waitJS(`!document.querySelector('#agents-body tr[data-agent="cy"]')`, "the agent revoked")
	if status, _ := hoCall(t, nil, "POST", p.URL+"/admin/api/signin", "", map[string]string{"name": "cy", "secret": secret}); status != 401 {
		t.Errorf("a revoked agent's sign-in: %d, want 401", status)
	}
}

// consoleAxe runs axe-core over the console's page and fails on serious
// or critical violations.
func consoleAxe(t *testing.T, b *browserTab, src, state string) {
	t.Helper()
	if !btEval[bool](b, `typeof axe === 'object'`) {
		btEval[bool](b, src+";\ntrue")
	}
	r := btEval[btAxeResult](b, `axe.run(document, {resultTypes: ['violations']}).then(r => ({
	  violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
	    nodes: v.nodes.map(n => JSON.stringify(n.target) + ': ' + n.failureSummary)})),
	  passes: r.passes.length,
	}))`)
	for _, v := range r.Violations {
		msg := fmt.Sprintf("%s: axe %s (%s): %s\n  %s", state, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n  "))
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
	t.Logf("%s: axe passed %d rules, %d violations", state, r.Passes, len(r.Violations))
}
