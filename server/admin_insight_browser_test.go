package server_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/widget/widgettest"
)

// TestAdminBrowser_Insight drives the console's insight parts in headless
// Chromium over two real widget conversations and the known data: the
// sessions filters status, forms, type and language combined with the
// others, the trace under a bot message (closed until clicked), the lead
// columns of the overview and the Funnel page, with screenshots at desktop
// and phone sizes.
func TestAdminBrowser_Insight(t *testing.T) {
	b := consoleBrowser(t)
	s, ts := startServer(t, server.Config{AdminToken: admToken})
	admintest.Fixture(t, s.Store) // March 2025: closed

	// Kim (Swiss German) gives a name and an email and stays; a French
	// visitor leaves at the menu: open once the socket closes.
	dial := func(lang string) *widgettest.Client {
		return widgettest.MustDial(t, widgettest.URL(ts.URL, "demo"), widgettest.Options{Origin: ts.URL, Jar: widgettest.NewJar(),
			Header: http.Header{"Accept-Language": {lang}}})
	}
	kim := dial("de-CH,de;q=0.9")
	kimSession := kim.MustHello(widgettest.Hello{}).Session
	kim.UntilPrompt("menu")
	kim.MustChoice("c1", "menu", "demo")
	kim.UntilPrompt("ask_name")
	kim.MustText("c2", "Kim")
	kim.UntilPrompt("ask_email")
	kim.MustText("c3", "kim@example.org")
	kim.UntilPrompt("ask_phone")
	fr := dial("fr-FR,fr;q=0.9")
	fr.MustHello(widgettest.Hello{})
	fr.UntilPrompt("menu")
	fr.Close()

	b.do(chromedp.Navigate(ts.URL + "/admin/"))
	b.do(chromedp.SendKeys("#token", admToken), chromedp.Click("#login-form button[type=submit]"))
	b.waitJS(`!document.querySelector("#app").hidden`, "the console")

	// Sessions: every status, then the new filters combined with the others.
	cards := func(n int, what string) {
		t.Helper()
		b.waitJS(`document.querySelectorAll("#session-cards .session-card").length === `+strconv.Itoa(n)+
			` && !document.querySelector("main").innerText.includes("Loading…")`, what)
	}
	b.do(chromedp.Navigate(ts.URL + "/admin/#/sessions"))
	b.waitJS(`document.querySelector("#f-status")`, "the sessions filters")
	b.set("#period", "all")
	cards(10, "all ten sessions")
	b.set("#f-status", "active")
	cards(1, "Kim's session, active")
	b.waitJS(`document.querySelector("#session-cards .badge.active")?.textContent === "Active"`, "the active badge")
	b.set("#f-status", "open")
	cards(1, "the French visitor's session, open")
	b.set("#f-status", "closed")
	cards(8, "the known data, closed")
	b.set("#f-status", "")
	b.set("#f-forms", "1")
	cards(5, "the sessions with a form: four of the known data, Kim's")
	b.set("#f-lang", "de")
	cards(1, "Kim's, a form in German")
	b.set("#f-type", "lead")
	b.set("#f-bot", "demo")
	cards(1, "Kim's with the demo story's type too")
	b.waitJS(`document.querySelector("#session-cards .lang")?.title === "Language: de-ch"`, "the card's language")
	b.shot("insight-01-sessions-filters")
	b.set("#f-type", "support")
	cards(0, "no support session")
	b.set("#f-type", "")
	b.set("#f-lang", "")
	b.set("#f-forms", "")
	b.set("#f-bot", "")

	// The transcript: each bot message has its trace, closed; a click
	// opens it and shows the email's condition with its value and branch.
	b.do(chromedp.Navigate(ts.URL + "/admin/#/sessions/" + kimSession))
	b.waitJS(`document.querySelectorAll("#transcript details.trace").length >= 4`, "the traces")
	if open := btEval[int](b.browserTab, `document.querySelectorAll("#transcript details.trace[open]").length`); open != 0 {
		t.Errorf("%d traces open before a click", open)
	}
	last := `[...document.querySelectorAll("#transcript li.msg.bot")].pop()`
	b.do(chromedp.Click(`#transcript li.msg.bot:last-child details.trace summary`))
	b.waitJS(last+`.querySelector("details.trace").open`, "the last trace opened by a click")
	b.waitJS(last+`.querySelector("details.trace").innerText.includes("condition check_test: email “kim@example.org” matches")`, "the condition in the trace")
	b.waitJS(last+`.querySelector("details.trace").innerText.includes("→ then → tag_test")`, "the branch taken")
	b.shot("insight-02-trace")

	// The overview's lead columns.
	b.do(chromedp.Navigate(ts.URL + "/admin/#/users"))
	b.waitJS(`document.querySelector("#users-body")`, "the users")
	b.waitJS(`[...document.querySelectorAll("#users-body td[data-label=Name]")].some(td => td.innerText === "Kim")`, "Kim's name in its column")
	b.waitJS(`[...document.querySelectorAll("#users-body td[data-label=Email]")].some(td => td.innerText === "kim@example.org")`, "the email in its column")
	b.waitJS(`[...document.querySelectorAll("#users-body td[data-label='Inputs and tags']")].some(td => td.innerText.includes("first_name: Kim"))`, "the inputs")
	b.shot("insight-03-leads")

	// The funnel of the demo story: the two sessions of today.
	b.do(chromedp.Navigate(ts.URL + "/admin/#/funnel"))
	b.waitJS(`document.querySelector("#funnel-opened")?.textContent === "2"`, "two sessions opened")
	b.waitJS(`document.querySelector("#funnel-blocks tr[data-block=menu]") && document.querySelector("#funnel-blocks tr[data-block=ask_email]")`, "the blocks")
	if got := btEval[string](b.browserTab, `document.querySelector("#funnel-blocks tr[data-block=ask_name] td.drop")?.innerText || ""`); got != "−1 (50 %)" {
		t.Errorf("drop-off to ask_name: %q, want −1 (50 %%)", got)
	}
	b.shot("insight-04-funnel")
	// A year: the known data of March 2025 is older; a custom period from
	// then has its eight sessions too.
	b.set("#period", "365d")
	b.waitJS(`document.querySelector("#funnel-opened")?.textContent === "2" && !document.querySelector("main").innerText.includes("Loading…")`, "a year: today's two sessions")
	b.set("#period", "custom")
	b.set(`input[aria-label='From (first day)']`, "2025-03-01")
	b.waitJS(`document.querySelector("#funnel-opened")?.textContent === "10"`, "since March 2025: ten sessions")
	b.set("#period", "30d")

	// On a phone every page stays as wide as the screen.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	for _, p := range []struct{ hash, ready, name string }{
		{"#/funnel", `document.querySelector("#funnel-blocks")`, "insight-05-phone-funnel"},
		{"#/sessions", `document.querySelectorAll("#session-cards .session-card").length > 0`, "insight-06-phone-sessions"},
		{"#/sessions/" + kimSession, `document.querySelector("#transcript details.trace")`, "insight-07-phone-trace"},
	} {
		b.do(chromedp.Navigate(ts.URL + "/admin/" + p.hash))
		b.waitJS(p.ready, p.name)
		if p.name == "insight-07-phone-trace" {
			b.do(chromedp.Click(`#transcript li.msg.bot:last-child details.trace summary`))
			b.waitJS(last+`.querySelector("details.trace").open`, "the trace on a phone")
		}
		if w := btEval[int](b.browserTab, `document.documentElement.scrollWidth`); w > 400 {
			t.Errorf("%s: the phone layout is %dpx wide", p.hash, w)
		}
		b.shot(p.name)
	}
	kim.Close()
}
