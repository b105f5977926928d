package server_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/admin/admintest"
)

// signIn types the admin token into the console's form, as a person does.
func (b *consoleTab) signIn(url string) {
	b.t.Helper()
	b.do(chromedp.Navigate(url + "/admin/"))
	b.waitJS(`document.querySelector("#token") && !document.querySelector("#login").hidden`, "the login form")
	b.do(chromedp.SendKeys("#token", admToken), chromedp.Click("#login-form button[type=submit]"))
	b.waitJS(`!document.querySelector("#app").hidden`, "the console")
}

// waitCards waits until the sessions view shows n cards and no load is running.
func (b *consoleTab) waitCards(n int, what string) {
	b.t.Helper()
	b.waitJS(`document.querySelectorAll("#session-cards article").length === `+strconv.Itoa(n)+` && !document.querySelector("main").innerText.includes("Loading…")`, what)
}

// TestAdminBrowser_SentimentAndGaps drives the console's sentiment and gaps in headless
// Chromium: the sentiment and unanswered chips on the session cards, the
// "All sentiment" and "Missing knowledge" filters combined with the
// others, the sentiment in a transcript, the users overview and a
// profile, and the Knowledge gaps page with its session links and CSV;
// screenshots at desktop and phone sizes go to t.ArtifactDir().
func TestAdminBrowser_SentimentAndGaps(t *testing.T) {
	b := consoleBrowser(t)
	s, ts := startServer(t, server.Config{AdminToken: admToken})
	admintest.Fixture(t, s.Store)
	sess := admintest.Insight(t, s.Store)
	b.signIn(ts.URL)

	// The cards and their filters.
	b.do(chromedp.Navigate(ts.URL + "/admin/#/sessions"))
	b.waitJS(`document.querySelector("#f-sentiment")`, "the sessions view with the sentiment filter")
	b.set("#period", "all")
	b.waitCards(12, "all twelve sessions")
	if got := btEval[string](b.browserTab, `document.querySelector('article[data-id="`+sess["v7"].ID+`"] .chips').innerText`); !strings.Contains(got, "negative") || !strings.Contains(got, "2 unanswered") {
		t.Errorf("v7's card chips say %q, want negative and 2 unanswered", got)
	}
	b.shot("sentiment-01-sessions")
	b.set("#f-sentiment", "negative")
	b.waitCards(1, "the one negative session")
	b.set("#f-sentiment", "")
	b.set("#f-unanswered", "1")
	b.waitCards(4, "the four sessions with unanswered questions")
	b.set("#f-goal", "lead")
	b.waitCards(1, "unanswered and the lead goal")
	b.set("#f-sentiment", "positive")
	b.waitCards(1, "unanswered, lead and positive")
	b.set("#f-sentiment", "negative")
	b.waitCards(0, "unanswered, lead and negative: none")
	b.set("#f-goal", "")
	b.waitCards(1, "unanswered and negative")
	b.shot("sentiment-02-sessions-filtered")

	// The transcript: each visitor text with its tone, the unanswered
	// ones marked; the state panel with the session's.
	b.do(chromedp.Click(`article[data-id="` + sess["v7"].ID + `"] a.title`))
	b.waitJS(`document.querySelectorAll("#transcript .chip.unanswered").length === 2`, "two unanswered texts in the transcript")
	if txt := btEval[string](b.browserTab, `document.querySelector(".state").innerText`); !strings.Contains(txt, "negative") || !strings.Contains(txt, "Unanswered\n2") {
		t.Errorf("state panel: %q", txt)
	}
	b.shot("sentiment-03-transcript")

	// The users overview and the profile show the visitor's latest tone.
	b.do(chromedp.Navigate(ts.URL + "/admin/#/users"))
	b.set("#period", "all")
	b.waitRows(9, "all nine visitors")
	if got := btEval[string](b.browserTab, `document.querySelector('#users-body tr[data-id="`+admintest.V7+`"] td[data-label="Sentiment"]').innerText`); !strings.Contains(got, "negative") {
		t.Errorf("V7's sentiment cell: %q", got)
	}
	b.shot("sentiment-04-users")
	b.do(chromedp.Click(`#users-body tr[data-id="` + admintest.V7 + `"] a.user`))
	b.waitJS(`document.querySelector(".profile") && document.querySelector(".profile").innerText.includes("Latest sentiment")`, "the profile")
	if txt := btEval[string](b.browserTab, `document.querySelector(".profile").innerText`); !strings.Contains(txt, "negative") {
		t.Errorf("profile: %q", txt)
	}
	b.waitJS(`document.querySelector("#visitor-sessions article .chip.unanswered")`, "the visitor's session with its chips")
	b.shot("sentiment-05-visitor")

	// The Knowledge gaps page, from the navigation.
	b.do(chromedp.Click(`a[data-nav="gaps"]`))
	b.waitJS(`document.querySelector("#gaps")`, "the Knowledge gaps page")
	b.set("#period", "all")
	b.waitJS(`document.querySelectorAll("#gaps-body tr").length === 4`, "four questions")
	first := btEval[string](b.browserTab, `document.querySelector("#gaps-body tr").innerText`)
	if !strings.Contains(first, "pricing") || !strings.Contains(first, "2") {
		t.Errorf("the first row %q: want pricing, asked twice", first)
	}
	if got := btEval[string](b.browserTab, `document.querySelector("#gaps-summary").textContent`); !strings.Contains(got, "5 unanswered texts, 4 distinct questions") {
		t.Errorf("summary %q", got)
	}
	b.shot("sentiment-06-gaps")
	b.do(chromedp.Click(`button.secondary`))
	select {
	case p := <-b.done:
		got, err := os.ReadFile(p)
		if err != nil || !strings.HasPrefix(string(got), `"text","key","count"`) || !strings.Contains(string(got), `"pricing","pricing","2"`) {
			t.Errorf("gaps.csv: %q (%v)", got, err)
		}
	case <-time.After(15 * time.Second):
		t.Error("the CSV download did not complete")
	}
	b.do(chromedp.Click(`#gaps-body tr[data-key="pricing"] a`))
	b.waitJS(`location.hash === "#/sessions/`+sess["v8a"].ID+`" && document.querySelector("#transcript")`, "the latest session that asked about pricing")

	// On a phone: the cards with their filters, and the gaps as cards.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Navigate(ts.URL+"/admin/#/sessions"))
	b.waitCards(1, "the filters kept on a phone")
	if w := btEval[int](b.browserTab, `document.documentElement.scrollWidth`); w > 400 {
		t.Errorf("the sessions view is %dpx wide on a phone", w)
	}
	b.shot("sentiment-07-sessions-phone")
	b.do(chromedp.Navigate(ts.URL + "/admin/#/gaps"))
	b.waitJS(`document.querySelectorAll("#gaps-body tr").length === 4`, "the gaps on a phone")
	if w := btEval[int](b.browserTab, `document.documentElement.scrollWidth`); w > 400 {
		t.Errorf("the gaps page is %dpx wide on a phone", w)
	}
	b.shot("sentiment-08-gaps-phone")
}
