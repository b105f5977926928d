package widget_test

import (
	"context"
	"errors"
	"testing"

	"github.com/parley-chat/parley/identity"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

const testSecret = "acme-identity-secret-0123456789abcdef"

func identifySite() *widget.Site {
	s := demoSite()
	s.IdentitySecret = testSecret
	return s
}

func user(id string) widgettest.User {
	return widgettest.User{ID: id, Hash: identity.UserHash(testSecret, id), Name: "Ada Lovelace", Email: "ada@example.org"}
}

// chat starts a session on c and sends one text, so its visitor has a
// record, a session and an interaction.
func chat(t *testing.T, c *widgettest.Client, id string) widgettest.Frame {
	t.Helper()
	w := c.MustHello(widgettest.Hello{})
	c.ExpectPrompt()
	c.MustText(id, "hello from "+id)
	c.Expect(widgettest.TypeAck)
	return w
}

func TestIdentify_MergesBrowsers(t *testing.T) {
	e := mustEnvSite(t, widget.Config{}, identifySite())
	ctx := context.Background()
	home, work := widgettest.NewJar(), widgettest.NewJar()

	a := e.dial(home)
	wa := chat(t, a, "a1")
	a.MustIdentify("i1", user("crm-7"))
	got := a.Until(widgettest.TypeIdentified)
	if got.Visitor != wa.Visitor || got.Merged || got.User != "crm-7" || got.Ref != "i1" || got.Token == "" {
		t.Fatalf("first browser: %+v, want its own visitor %s", got, wa.Visitor)
	}

	b := e.dial(work)
	wb := chat(t, b, "b1")
	b.MustIdentify("i2", user("crm-7"))
	got = b.Until(widgettest.TypeIdentified)
	if got.Visitor != wa.Visitor || !got.Merged {
		t.Fatalf("second browser: %+v, want a merge into %s", got, wa.Visitor)
	}
	// The conversation goes on, now as the user's visitor.
	b.MustText("b2", "still here")
	b.Until(widgettest.TypeAck)

	sids, err := e.store.VisitorSessionIDs(ctx, wa.Visitor)
	if err != nil || len(sids) != 2 {
		t.Fatalf("user's sessions: %v %v, want both browsers'", sids, err)
	}
	if _, err := e.store.Visitor(ctx, wb.Visitor); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the work browser's visitor: %v, want it merged away", err)
	}
	v, err := e.store.Visitor(ctx, wa.Visitor)
	if err != nil || v.PlatformID != "crm-7" || v.Email != "ada@example.org" || v.LastMessage != "still here" {
		t.Errorf("user's visitor: %+v %v", v, err)
	}
	sess, err := e.store.Session(ctx, wb.Session)
	if err != nil || sess.VisitorID != wa.Visitor || sess.MessageCount < 4 {
		t.Errorf("work session after the merge: %+v %v", sess, err)
	}

	t.Run("CookieAfterMerge", func(t *testing.T) {
		b.Close()
		c := e.dial(work) // the old visitor's cookie, no token
		w := c.MustHello(widgettest.Hello{Session: wb.Session})
		if w.Visitor != wa.Visitor || w.Resumed == nil || !*w.Resumed {
			t.Errorf("reconnect with the merged cookie: %+v, want %s resuming %s", w, wa.Visitor, wb.Session)
		}
	})
	t.Run("HelloWithUser", func(t *testing.T) {
		u := user("crm-7")
		c := e.dial(widgettest.NewJar())
		c.MustSendHello(widgettest.Hello{User: &u})
		if f := c.Expect(widgettest.TypeIdentified); f.Visitor != wa.Visitor {
			t.Errorf("identified %+v, want %s", f, wa.Visitor)
		}
		if w := c.Expect(widgettest.TypeWelcome); w.Visitor != wa.Visitor {
			t.Errorf("welcome %+v, want the user's visitor", w)
		}
	})
	r, err := e.store.Verify(ctx)
	if err != nil || len(r.Problems) > 0 {
		t.Errorf("verify: %v %v", r.Problems, err)
	}
}

func TestIdentify_Refused(t *testing.T) {
	e := mustEnvSite(t, widget.Config{}, identifySite())
	ctx := context.Background()
	forged := user("crm-8")
	forged.Hash = identity.UserHash(testSecret, "crm-9")
	otherSite := user("crm-8")
	otherSite.Hash = identity.UserHash("another-sites-secret-0123456789abcdef", "crm-8")
	badEmail := user("crm-8")
	badEmail.Email = "ada@"
	tests := []struct {
		name string
		u    widgettest.User
		code string
	}{
		{"Forged", forged, "identity_invalid"},
		{"OtherSitesHash", otherSite, "identity_invalid"},
		{"NoHash", widgettest.User{ID: "crm-8"}, "identity_invalid"},
		{"BadEmail", badEmail, "bad_user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial(widgettest.NewJar())
			w := chat(t, c, "x1")
			before, _ := e.store.Visitor(ctx, w.Visitor)
			c.MustIdentify("i1", tt.u)
			if f := c.Until(widgettest.TypeError); f.Code != tt.code || f.Ref != "i1" {
				t.Fatalf("got %+v, want %s", f, tt.code)
			}
			after, _ := e.store.Visitor(ctx, w.Visitor)
			if after.PlatformID != "" || after.Email != before.Email {
				t.Errorf("a refused identify changed the visitor: %+v", after)
			}
			if id, _ := e.store.PlatformVisitor(ctx, "demo", "crm-8"); id != "" {
				t.Errorf("a refused identify claimed the user for %s", id)
			}
			// The conversation goes on as before.
			c.MustText("x2", "still me")
			c.Until(widgettest.TypeAck)
		})
	}
	t.Run("InHello", func(t *testing.T) {
		c := e.dial(widgettest.NewJar())
		c.MustSendHello(widgettest.Hello{User: &forged})
		if f := c.Expect(widgettest.TypeError); f.Code != "identity_invalid" {
			t.Fatalf("got %+v", f)
		}
		if w := c.Expect(widgettest.TypeWelcome); w.Visitor == "" {
			t.Errorf("welcome %+v: the hello should go on anonymously", w)
		}
	})
	t.Run("NoSecret", func(t *testing.T) {
		e := mustEnv(t, widget.Config{})
		c := e.dial(widgettest.NewJar())
		chat(t, c, "n1")
		c.MustIdentify("i1", user("crm-8"))
		if f := c.Until(widgettest.TypeError); f.Code != "identity_not_enabled" {
			t.Errorf("got %+v, want identity_not_enabled", f)
		}
	})
}

func TestIdentify_OtherUsersBrowser(t *testing.T) {
	e := mustEnvSite(t, widget.Config{}, identifySite())
	c := e.dial(widgettest.NewJar())
	w := chat(t, c, "o1")
	c.MustIdentify("i1", user("crm-1"))
	c.Until(widgettest.TypeIdentified)
	// Another user signs in on the same browser: a visitor of their own,
	// and a conversation of their own.
	c.MustIdentify("i2", user("crm-2"))
	got := c.Until(widgettest.TypeIdentified)
	if got.Visitor == w.Visitor || got.Merged {
		t.Fatalf("got %+v, want a visitor other than crm-1's %s", got, w.Visitor)
	}
	nw := c.Until(widgettest.TypeWelcome)
	if nw.Visitor != got.Visitor || nw.Session == w.Session {
		t.Errorf("welcome %+v, want a new session of %s", nw, got.Visitor)
	}
	v, err := e.store.Visitor(context.Background(), w.Visitor)
	if err != nil || v.PlatformID != "crm-1" {
		t.Errorf("crm-1's visitor: %+v %v", v, err)
	}
}

// TestIdentify_NewVisitorOnReset: a socket opened with visitor=new (the
// widget's Parley.reset, a log-out) is a new visitor, whatever the cookie
// says, and the cookie names the new one from then on.
func TestIdentify_NewVisitorOnReset(t *testing.T) {
	e := mustEnvSite(t, widget.Config{}, identifySite())
	jar := widgettest.NewJar()
	c := e.dial(jar)
	w := chat(t, c, "r1")
	c.MustIdentify("i1", user("crm-5"))
	c.Until(widgettest.TypeIdentified)
	c.Close()

	fresh := widgettest.MustDial(t, e.wsURL()+"&visitor=new", widgettest.Options{Origin: testOrigin, Jar: jar})
	nw := fresh.MustHello(widgettest.Hello{})
	if nw.Visitor == w.Visitor || len(nw.History) != 0 {
		t.Fatalf("after the reset: %+v, want a new visitor with no history", nw)
	}
	fresh.Close()
	again := e.dial(jar)
	if w2 := again.MustHello(widgettest.Hello{}); w2.Visitor != nw.Visitor {
		t.Errorf("next socket: visitor %s, want the new %s", w2.Visitor, nw.Visitor)
	}
}
