package server_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage"
)

// TestAdminBrowser_EraseAndExport drives the privacy requests in the
// console: the export downloads the visitor's document, and the erase
// happens only after the typed confirmation.
func TestAdminBrowser_EraseAndExport(t *testing.T) {
	b := consoleBrowser(t)
	s, ts := startServer(t, server.Config{AdminToken: admToken})
	visitor, _ := admFileVisitor(t, s)

	b.do(chromedp.Navigate(ts.URL + "/admin/"))
	b.waitJS(`document.querySelector("#token")`, "the login form")
	b.do(chromedp.SendKeys("#token", admToken), chromedp.Click("#login-form button[type=submit]"))
	b.waitJS(`!document.querySelector("#app").hidden`, "the console")
	b.do(chromedp.Navigate(ts.URL + "/admin/#/users/" + visitor))
	b.waitJS(`document.querySelector("button.erase")`, "the privacy requests")

	// Export: the JSON document of this visitor, saved as a download.
	b.do(chromedp.Click("button.export"))
	select {
	case p := <-b.done:
		doc, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(doc), visitor) || !strings.Contains(string(doc), "/admin/api/files/") {
			t.Errorf("export = %.200q (%v), want the visitor's document with file links", doc, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the export did not download")
	}

	// Erase without the confirmation word does nothing.
	b.do(chromedp.Click("button.erase"))
	b.waitJS(`document.querySelector("dialog.confirm[open]")`, "the confirmation")
	b.do(chromedp.Click("#erase-do"))
	b.waitJS(`document.querySelector("dialog.confirm .error").textContent.includes("ERASE")`, "the refusal")
	if _, err := s.Store.Visitor(context.Background(), visitor); err != nil {
		t.Fatalf("the visitor went before the confirmation: %v", err)
	}
	b.shot("09-erase-confirm")

	// With it, the visitor is erased and the console goes back to the list.
	b.do(chromedp.SendKeys("#erase-confirm", "ERASE"), chromedp.Click("#erase-do"))
	b.waitJS(`location.hash === "#/users" && document.querySelector("#flash").textContent.includes("erased")`, "the list after the erase")
	if _, err := s.Store.Visitor(context.Background(), visitor); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after the erase the visitor lookup says %v, want not found", err)
	}
}
