package server_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/storage"
)

// consoleTab is a headless Chromium tab driving the console, which
// downloads files and, on a failure, saves a screenshot and tells what
// the page says.
type consoleTab struct {
	*browserTab
	t         *testing.T
	shots     string // where screenshots go
	downloads string
	done      chan string // paths of completed downloads
}

func consoleBrowser(t *testing.T) *consoleTab {
	t.Helper()
	ctx := headlessChromium(t, btChromium(t), t.TempDir(), 2*time.Minute)
	b := &consoleTab{browserTab: &browserTab{tb: t, ctx: ctx}, t: t, shots: t.ArtifactDir(), downloads: t.TempDir(), done: make(chan string, 4)}
	b.describe = func() string {
		b.shot("failure")
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string]("document.body.innerText.slice(0, 800)"))
		return "page says: " + text
	}
	t.Logf("screenshots go to %s (kept with go test -artifacts)", b.shots)
	if err := chromedp.ListenBrowser(ctx, func(ev any) {
		if e, ok := ev.(*browser.EventDownloadProgress); ok && e.State == browser.DownloadProgressStateCompleted {
			b.done <- filepath.Join(b.downloads, e.GUID)
		}
	}); err != nil {
		t.Fatal(err)
	}
	yes := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: b.downloads, EventsEnabled: &yes,
	}); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.EmulateViewport(1280, 800))
	return b
}

// shot saves a screenshot of the page.
func (b *consoleTab) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", p)
}

// set gives a form field a value the way a person does: value, then the
// change event.
func (b *consoleTab) set(sel, value string) {
	b.t.Helper()
	btEval[bool](b.browserTab, fmt.Sprintf(`(() => { const el = document.querySelector(%q); el.value = %q;
		el.dispatchEvent(new Event("change", {bubbles: true})); return true })()`, sel, value))
}

// waitRows waits until the users table shows n rows and no load is running.
func (b *consoleTab) waitRows(n int, what string) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf(`document.querySelectorAll("#users-body tr").length === %d && !document.querySelector("main").innerText.includes("Loading…")`, n), what)
}

// admFileVisitor adds a visitor who clicked a choice and uploaded a real
// file (stored with its bytes) on March 18th, 2025.
func admFileVisitor(t *testing.T, s *server.Server) (visitorID string, data []byte) {
	t.Helper()
	ctx := context.Background()
	at := admintest.Day(8)
	visitorID = "01JAAAAAAAAAAAAAAAAAAAAAA7"
	v := &storage.Visitor{ID: visitorID, Site: "demo", Channel: "web", CreatedAt: at, Device: storage.Device{OS: "iOS 17", Browser: "Safari 17", Mobile: true}}
	sess := &storage.Session{ID: storage.NewID(at), Site: "demo", VisitorID: visitorID, Bot: "demo", Version: "2", Channel: "web", Device: v.Device, StartedAt: at}
	if err := s.Store.StartSession(ctx, v, sess, nil); err != nil {
		t.Fatal(err)
	}
	data = []byte("%PDF-1.4\n% a tiny test file\n%%EOF\n")
	up := at.Add(2 * time.Minute)
	f := &storage.File{ID: storage.NewID(up), Site: "demo", VisitorID: visitorID, SessionID: sess.ID, Name: "invoice.pdf", Type: "application/pdf", UploadedAt: up}
	if err := s.Files().Put(ctx, f, bytes.NewReader(data), storage.Quota{}); err != nil {
		t.Fatal(err)
	}
	ref := f.Ref()
	turns := []*storage.Turn{
		{SessionID: sess.ID, Messages: []storage.Message{{From: storage.FromBot, Kind: storage.KindBot, At: at, Text: "Would you like to send us a file?", Block: "offer_file",
			Options: []storage.Option{{ID: "yes", Label: "Yes, send a file"}, {ID: "no", Label: "No, thanks"}}}}},
		{SessionID: sess.ID, ClientID: "c1", Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindChoice, At: at.Add(time.Minute), Text: "Yes, send a file", Block: "offer_file", Option: "yes"},
			{From: storage.FromBot, Kind: storage.KindBot, At: at.Add(time.Minute), Text: "Pick an image or a PDF.", Block: "ask_file"}}},
		{SessionID: sess.ID, Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindFile, At: up, Text: f.Name, Block: "ask_file", File: &ref},
			{From: storage.FromBot, Kind: storage.KindBot, At: up, Text: "Got it, thanks!", Block: "got_file"}},
			State: &storage.State{Current: "got_file", Previous: "ask_file", Reached: []string{"offer_file", "ask_file", "got_file"}, Variables: map[string]string{"attachment": "invoice.pdf"}}},
	}
	for _, tr := range turns {
		if _, _, _, err := s.Store.RecordTurn(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	return visitorID, data
}

// TestAdminBrowser_Console signs into the console in headless Chromium,
// filters the users table by a period and the three toggles, opens a
// visitor, downloads its file, reads a transcript, browses the sessions
// cards and sees the usage chart, taking screenshots on the way.
func TestAdminBrowser_Console(t *testing.T) {
	b := consoleBrowser(t)
	s, ts := startServer(t, server.Config{AdminToken: admToken})
	admintest.Fixture(t, s.Store)
	fileVisitor, fileData := admFileVisitor(t, s)

	// Sign in: a wrong token is refused in the form, the right one opens
	// the console; the token is in the tab's storage and never in the URL.
	b.do(chromedp.Navigate(ts.URL + "/admin/"))
	b.waitJS(`document.querySelector("#token") && !document.querySelector("#login").hidden`, "the login form")
	b.shot("01-login")
	b.do(chromedp.SendKeys("#token", "not-the-token"), chromedp.Click("#login-form button[type=submit]"))
	b.waitJS(`document.querySelector("#login-error").textContent.length > 0`, "the refusal")
	btEval[string](b.browserTab, `document.querySelector("#token").value = ""`)
	b.do(chromedp.SendKeys("#token", admToken), chromedp.Click("#login-form button[type=submit]"))
	b.waitJS(`!document.querySelector("#app").hidden`, "the console")
	if got := btEval[string](b.browserTab, `sessionStorage.getItem("parley.adminToken")`); got != admToken {
		t.Errorf("sessionStorage holds %q", got)
	}
	if loc := btEval[string](b.browserTab, "location.href"); strings.Contains(loc, admToken) {
		t.Errorf("the token is in the URL: %s", loc)
	}

	// The period: March 2025 (the data's month), then the toggles, AND-ed.
	b.set("#period", "custom")
	b.set(`input[aria-label="From (first day)"]`, "2025-03-01")
	b.set(`input[aria-label="To (last day)"]`, "2025-03-31")
	b.waitRows(7, "the seven visitors of March")
	noCells := btEval[int](b.browserTab, `[...document.querySelectorAll("#users-body td")].filter(td => td.innerText.trim() === "No").length`)
	if noCells == 0 {
		t.Error(`no «No» cell for a visitor without files or inputs`)
	}
	b.shot("02-users")
	b.do(chromedp.Click(`[data-toggle="engaged"]`))
	b.waitRows(4, "the engaged visitors")
	b.do(chromedp.Click(`[data-toggle="files"]`))
	b.waitRows(2, "the engaged visitors with files in one session")
	b.do(chromedp.Click(`[data-toggle="inputs"]`))
	b.waitRows(1, "the visitor with all three")
	b.shot("03-users-toggles")
	b.do(chromedp.Click(`[data-toggle="inputs"]`))
	b.waitRows(2, "inputs toggled off")

	// The visitor page, its sessions and the file download.
	b.do(chromedp.Click(fmt.Sprintf(`#users-body tr[data-id="%s"] a.user`, fileVisitor)))
	b.waitJS(`document.querySelector("#visitor-sessions article")`, "the visitor's sessions")
	b.waitJS(`document.querySelector(".profile") && document.querySelector(".profile").innerText.includes("iOS 17")`, "the profile")
	b.shot("04-visitor")
	// The download route belongs to the uploads (uploads.go); the
	// console links to it either way.
	fileURL := btEval[string](b.browserTab, `[...document.querySelectorAll("button[data-file]")].map(e => "/admin/api/files/" + e.dataset.file)[0]`)
	if resp, body := admintest.Do(t, "GET", ts.URL+fileURL, admAuth); resp.StatusCode == 404 && strings.Contains(string(body), "no such admin endpoint") {
		t.Log("no GET /admin/api/files/{id} route: the download is not tried")
	} else {
		b.do(chromedp.Click(`button[data-file]`))
		select {
		case p := <-b.done:
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, fileData) {
				t.Errorf("downloaded %q (%v), want the uploaded bytes", got, err)
			}
		case <-time.After(15 * time.Second):
			t.Error("the file download did not complete")
		}
	}

	// The transcript of that session.
	b.do(chromedp.Click(`a.transcript-link`))
	b.waitJS(`document.querySelectorAll("#transcript li").length === 5`, "the transcript's five messages")
	if txt := btEval[string](b.browserTab, `document.querySelector(".state").innerText`); !strings.Contains(txt, "got_file") || !strings.Contains(txt, "attachment") {
		t.Errorf("state panel: %q", txt)
	}
	b.shot("05-transcript")

	// The sessions cards.
	b.do(chromedp.Navigate(ts.URL + "/admin/#/sessions"))
	b.waitJS(`document.querySelector("#session-cards")`, "the sessions view")
	b.set("#period", "all")
	b.waitJS(`document.querySelectorAll("#session-cards article").length === 9`, "nine session cards")
	b.set("#f-goal", "lead")
	b.waitJS(`document.querySelectorAll("#session-cards article").length === 2`, "the two sessions that reached the lead goal")
	b.shot("06-sessions")

	// The usage report of March 2025: 9 sessions, a 31-day trend line and
	// bars, and apart the two starts a rate limit refused.
	for range 2 {
		s.Store.CountRefused(storage.Refusal{Site: "demo", Bot: "demo", Version: "1", Channel: "web", Reason: "visitors_per_ip", At: admintest.Day(10)})
	}
	b.do(chromedp.Navigate(ts.URL + "/admin/#/usage"))
	b.waitJS(`document.querySelector("#usage-total")`, "the usage report")
	b.set("#period", "custom")
	b.set(`input[aria-label="From (first day)"]`, "2025-03-01")
	b.set(`input[aria-label="To (last day)"]`, "2025-03-31")
	b.waitJS(`document.querySelector("#usage-total").textContent === "9"`, "nine sessions in March")
	b.waitJS(`/Refused, not consumed: 2 .*visitors_per_ip 2/.test(document.querySelector("#usage-refused")?.textContent)`, "the two refused starts")
	if n := btEval[int](b.browserTab, `document.querySelectorAll("svg.chart-line circle").length`); n != 31 {
		t.Errorf("the trend line has %d points, want 31", n)
	}
	if n := btEval[int](b.browserTab, `document.querySelectorAll("svg.chart-bars rect").length`); n < 4 {
		t.Errorf("%d bars", n)
	}
	b.shot("07-usage")

	// On a phone the users table turns into cards and stays usable.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Navigate(ts.URL+"/admin/#/users"))
	b.waitJS(`document.querySelectorAll("#users-body tr").length > 0`, "the users on a phone")
	if w := btEval[int](b.browserTab, `document.documentElement.scrollWidth`); w > 400 {
		t.Errorf("the phone layout is %dpx wide", w)
	}
	b.shot("08-phone")

	// Signing out forgets the token.
	b.do(chromedp.Click("#logout"))
	b.waitJS(`!document.querySelector("#login").hidden && sessionStorage.getItem("parley.adminToken") === null`, "signed out")
}
