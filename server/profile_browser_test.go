package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/admin/admintest"
)

// TestAdminBrowser_ProfileEdit edits a visitor's profile in the console:
// a bad email is refused in the form and changes nothing; a good edit
// shows on the profile with its audit entry, and at once in the
// overview's label and search.
func TestAdminBrowser_ProfileEdit(t *testing.T) {
	b := consoleBrowser(t)
	s, ts := startServer(t, server.Config{AdminToken: admToken})
	admintest.Fixture(t, s.Store)

	b.do(chromedp.Navigate(ts.URL + "/admin/"))
	b.waitJS(`document.querySelector("#token") && !document.querySelector("#login").hidden`, "the login form")
	b.do(chromedp.SendKeys("#token", admToken), chromedp.Click("#login-form button[type=submit]"))
	b.waitJS(`!document.querySelector("#app").hidden`, "the console")
	b.do(chromedp.Navigate(ts.URL + "/admin/#/users/" + admintest.V5))
	b.waitJS(`document.querySelector("#profile-edit")`, "the profile's edit button")

	b.do(chromedp.Click("#profile-edit"))
	b.waitJS(`!document.querySelector("#profile-form").hidden`, "the edit form")
	btEval[string](b.browserTab, `document.querySelector("#pe-email").value = ""`)
	b.do(chromedp.SendKeys("#pe-email", "anna@"), chromedp.Click("#profile-save"))
	b.waitJS(`document.querySelector("#profile-error").textContent.includes("email")`, "the refused email")
	if c, _ := s.Store.ProfileChanges(t.Context(), admintest.V5, 0); len(c) != 0 {
		t.Fatalf("a refused edit was recorded: %+v", c)
	}

	btEval[string](b.browserTab, `document.querySelector("#pe-email").value = ""`)
	btEval[string](b.browserTab, `document.querySelector("#pe-name").value = ""`)
	b.do(chromedp.SendKeys("#pe-name", "Anna Schmidt"), chromedp.SendKeys("#pe-email", "anna@schmidt.example"),
		chromedp.SendKeys("#pe-notes", "Called about the spring order."), chromedp.Click("#profile-save"))
	b.waitJS(`[...document.querySelectorAll("h1")].some(e => e.textContent === "anna@schmidt.example")`, "the new label")
	b.waitJS(`document.querySelector("#profile-notes") && document.querySelector("#profile-notes").textContent.includes("spring order")`, "the notes")
	b.do(chromedp.Click("#profile-audit summary"))
	audit := btEval[string](b.browserTab, `document.querySelector("#profile-changes").innerText`)
	for _, want := range []string{"admin", "Email", "anna@schmidt.example", "Name", "Anna Schmidt", "Notes"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit list %q lacks %q", audit, want)
		}
	}
	b.shot("profile-edited")

	// The overview: the new label, and the search finds the new name.
	b.do(chromedp.Navigate(ts.URL + "/admin/#/users"))
	b.set("#period", "all")
	b.waitJS(fmt.Sprintf(`[...document.querySelectorAll("#users-body tr[data-id='%s'] a.user")].some(a => a.textContent === "anna@schmidt.example")`, admintest.V5), "the new label in the overview")
	b.do(chromedp.SendKeys(`input[type=search]`, "schmidt"))
	b.waitRows(1, "the search for the new name")
}
