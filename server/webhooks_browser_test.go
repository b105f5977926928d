package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/webhook/webhooktest"
)

// TestWebhooksBrowser_Console: in the console's Webhooks page an endpoint
// that failed every attempt for PauseAfter shows as paused, with why; the
// Resume button sends what waited; the delivery log lists the attempts
// and its "Send again" button delivers an event once more, same ID.
func TestWebhooksBrowser_Console(t *testing.T) {
	b := consoleBrowser(t)
	r := webhooktest.New(t)
	r.Behave(func(int, *webhooktest.Delivery) int { return http.StatusBadGateway })
	path := webhookConfig(t, hook("crm", r.URL, true))
	sc, ps := server.LoadConfig(path)
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Sites: sc.Sites, Webhooks: sc.Webhooks, ConfigFile: path, AdminToken: admToken}
	cfg.WebhookLimits.BackoffBase, cfg.WebhookLimits.PauseAfter = 50*time.Millisecond, 600*time.Millisecond
	_, ts := startServer(t, cfg)
	c := newStoryClient(ts.URL, "console")
	c.story(t, context.Background())
	waitUntil(t, 10*time.Second, "the pause", func() bool {
		var list struct{ Items []struct{ Paused bool } }
		admintest.Get(t, ts.URL, admToken, "/admin/api/webhooks", &list)
		return list.Items[0].Paused
	})

	b.do(chromedp.Navigate(ts.URL + "/admin/#/webhooks"))
	b.waitJS(`document.querySelector("#token") && !document.querySelector("#login").hidden`, "the login form")
	b.do(chromedp.SendKeys("#token", admToken), chromedp.Click("#login-form button[type=submit]"))
	b.waitJS(`document.querySelector('[data-endpoint="demo/crm"] [data-state]')`, "the endpoint's card")
	if got := btEval[string](b.browserTab, `document.querySelector('[data-endpoint="demo/crm"] [data-state]').dataset.state`); got != "paused" {
		t.Fatalf("state %q, want paused", got)
	}
	if txt := btEval[string](b.browserTab, `document.querySelector('[data-endpoint="demo/crm"]').innerText`); !contains(txt, "Paused", "failed for a day", "resumed", "Waiting: ") {
		t.Fatalf("card says %q", txt)
	}
	b.shot("webhooks-01-paused")
	axeSrc := btAxeSource(t)
	b.runAxe(t, axeSrc, "webhooks, paused", "document")

	r.Behave(nil)
	b.do(chromedp.Click(`[data-endpoint="demo/crm"] button.resume`))
	b.waitJS(`document.querySelector('[data-endpoint="demo/crm"] [data-state]') && document.querySelector('[data-endpoint="demo/crm"] [data-state]').dataset.state === "active"`, "delivering again")
	waitUntil(t, 10*time.Second, "the session.ended event", func() bool {
		u := r.Unique()
		return len(u) > 0 && u[len(u)-1].Type == "session.ended"
	})

	b.do(chromedp.Click(`[data-endpoint="demo/crm"] a[href="#/webhooks/demo/crm"]`))
	b.waitJS(`document.querySelectorAll("#deliveries tbody tr.delivered").length > 0`, "the delivery log")
	b.shot("webhooks-02-log")
	b.runAxe(t, axeSrc, "delivery log", "document")
	before := len(r.Deliveries())
	id := btEval[string](b.browserTab, `(() => { const rows = document.querySelectorAll("#deliveries tbody tr.delivered"); return rows[rows.length - 1].dataset.attempt })()`)
	b.do(chromedp.Click(`#deliveries tbody tr[data-attempt="` + id + `"] button.resend`))
	waitUntil(t, 10*time.Second, "the event sent again", func() bool { return len(r.Deliveries()) == before+1 })
	d := r.Deliveries()
	again := d[len(d)-1]
	seen := false
	for _, x := range d[:len(d)-1] {
		seen = seen || x.ID == again.ID
	}
	if !seen {
		t.Fatalf("the resent event %s was not delivered before: a new ID", again.ID)
	}
	b.waitJS(`[...document.querySelectorAll("#deliveries tbody tr")].some(tr => tr.innerText.includes("sent again"))`, "the resent attempt in the log")
	b.shot("webhooks-03-resent")
}

// contains reports whether s holds every one of subs.
func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
