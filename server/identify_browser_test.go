package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-chat/parley/identity"
	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
)

const btIdentitySecret = "acme-garden-identity-secret-0123456789"

// btIdentifyHost turns identify on for Parley's demo site and serves the
// host site's pages with two more: /account, the page of the logged-in
// user crm-77 (data-user-*), and /forged, the same with another user's
// hash. It returns the site's origin.
func btIdentifyHost(t *testing.T, p *btParley) string {
	t.Helper()
	site := server.DemoSite()
	site.IdentitySecret = btIdentitySecret
	p.Server().Gateway.SetSites([]*widget.Site{site})
	tmpl, err := os.ReadFile(filepath.Join("testdata", "host.html"))
	if err != nil {
		t.Fatal(err)
	}
	mux := btHostMux(t, p.URL)
	page := func(hash string) http.HandlerFunc {
		attrs := fmt.Sprintf(` data-user-id="crm-77" data-user-hash="%s" data-user-name="Ada Lovelace" data-user-email="ada@example.org"`, hash)
		body := strings.NewReplacer("{{PARLEY}}", p.URL, "{{ATTRS}}", attrs).Replace(string(tmpl))
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			fmt.Fprint(w, body)
		}
	}
	mux.Handle("GET /account", page(identity.UserHash(btIdentitySecret, "crm-77")))
	mux.Handle("GET /forged", page(identity.UserHash(btIdentitySecret, "crm-78")))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return "http://localhost:" + ts.URL[strings.LastIndexByte(ts.URL, ':')+1:]
}

// TestBrowser_IdentifyMergesBrowsers: one person chats anonymously on two
// browser profiles (their own cookies and storage), then logs in on both:
// on the first the page names the user with data-user-*, on the second it
// calls Parley.identify. Both are one visitor, with both conversations.
func TestBrowser_IdentifyMergesBrowsers(t *testing.T) {
	p := btStartParley(t)
	site := btIdentifyHost(t, p)
	st := p.Server().Store.(*storage.Store)
	ctx := context.Background()

	home := btBrowser(t, browserOptions{})
	home.navigate(site + "/")
	home.walkToName()
	homeVisitor := home.welcomes()[0].Visitor
	home.navigate(site + "/account") // logged in: the hello carries the user
	home.ensureOpen()
	home.waitJS(`__ready.length >= 1`, "the welcome on the account page")
	if v := home.welcomes()[0].Visitor; v != homeVisitor {
		t.Fatalf("home browser after login: visitor %s, want its own %s", v, homeVisitor)
	}
	if id, _ := st.PlatformVisitor(ctx, "demo", "crm-77"); id != homeVisitor {
		t.Fatalf("crm-77 is visitor %q, want %s", id, homeVisitor)
	}

	work := btBrowser(t, browserOptions{})
	work.navigate(site + "/")
	work.walkToName()
	workWelcome := work.welcomes()[0]
	if workWelcome.Visitor == homeVisitor {
		t.Fatal("the second profile is the same visitor before any login")
	}
	btEval[bool](work, `(window.__ident = [], Parley.on('identified', e => __ident.push(e)), true)`)
	btEval[bool](work, fmt.Sprintf(`(Parley.identify('crm-77', {name: 'Ada Lovelace'}, %q), true)`, identity.UserHash(btIdentitySecret, "crm-77")))
	work.waitJS(`__ident.length === 1 && __ident[0].merged && __ident[0].visitor === `+fmt.Sprintf("%q", homeVisitor), "the merge")
	// The conversation goes on where it was, now as the user's.
	work.typeText("input.in", "Ada\n")
	work.waitJS(`__has('visitor', 'Ada') && __has('bot', 'Ada')`, "the answer after the merge")

	sids, err := st.VisitorSessionIDs(ctx, homeVisitor)
	if err != nil || len(sids) != 2 {
		t.Fatalf("the user's sessions: %v %v, want both profiles'", sids, err)
	}
	if ok, _ := st.HasVisitor(ctx, workWelcome.Visitor); ok {
		t.Errorf("the second profile's visitor %s is still a visitor of its own", workWelcome.Visitor)
	}
	v, err := st.Visitor(ctx, homeVisitor)
	if err != nil || v.PlatformID != "crm-77" || v.Name != "Ada" || v.Email != "ada@example.org" {
		t.Errorf("the user's visitor: %+v %v", v, err)
	}
	r, err := st.Verify(ctx)
	if err != nil || len(r.Problems) > 0 {
		t.Errorf("verify: %v %v", r.Problems, err)
	}

	// A new page on the second profile, logged out: its cookie still names
	// the user.
	work.navigate(site + "/page2")
	work.ensureOpen()
	if w := work.welcomes()[0]; w.Visitor != homeVisitor || w.Session != workWelcome.Session || !w.Resumed {
		t.Errorf("second profile's next page: %+v, want %s resuming %s", w, homeVisitor, workWelcome.Session)
	}

	// Logging out on the second profile (Parley.reset): a new, anonymous
	// visitor with an empty chat, on this page and the next; nothing of
	// the user's conversation is shown to whoever uses the browser next.
	btEval[bool](work, `(Parley.reset(), true)`)
	work.waitJS(`__ready.length === 2 && __ready[1].visitor !== __ready[0].visitor`, "the welcome of a new visitor")
	anon := work.welcomes()[1].Visitor
	work.waitJS(`__has('bot', 'What brings you here?') && !__msgs().some(m => m.text.includes('Ada'))`, "a new conversation without the user's messages")
	work.navigate(site + "/page2")
	work.ensureOpen()
	if w := work.welcomes()[0]; w.Visitor != anon {
		t.Errorf("after the log-out the next page is visitor %s, want the new %s", w.Visitor, anon)
	}
	if id, _ := st.PlatformVisitor(ctx, "demo", "crm-77"); id != homeVisitor {
		t.Errorf("the log-out changed the user's visitor to %q", id)
	}
}

// TestBrowser_IdentifyForged: a page with another user's hash is refused;
// the visitor chats on anonymously, and the page's console says why.
func TestBrowser_IdentifyForged(t *testing.T) {
	p := btStartParley(t)
	site := btIdentifyHost(t, p)
	b := btBrowser(t, browserOptions{})
	b.navigate(site + "/forged")
	b.walkToName()
	b.waitJS(`__warn.some(w => w.includes('identify refused') && w.includes('identity_invalid'))`, "the refusal in the console")
	if btEval[bool](b, `!!__q('.err') && !__q('.err').hidden && __q('.err').textContent !== ''`) {
		t.Errorf("the refusal was shown to the visitor")
	}
	if id, _ := p.Server().Store.(*storage.Store).PlatformVisitor(context.Background(), "demo", "crm-77"); id != "" {
		t.Errorf("a forged hash claimed crm-77 for %s", id)
	}
}
