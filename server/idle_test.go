package server_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/webhook/webhooktest"
	"github.com/parley-chat/parley/widget/widgettest"
)

// endedBy returns the reason of every session.ended the receiver got,
// by session, once per webhook-id.
func endedBy(tb testing.TB, r *webhooktest.Receiver) map[string][]string {
	tb.Helper()
	out := map[string][]string{}
	for _, d := range r.Unique() {
		if d.Type != storage.EventSessionEnded {
			continue
		}
		var body struct {
			Data struct {
				Ended struct{ Reason string } `json:"ended"`
			} `json:"data"`
		}
		if err := json.Unmarshal(d.Body, &body); err != nil {
			tb.Fatal(err)
		}
		out[d.Data.Session] = append(out[d.Data.Session], body.Data.Ended.Reason)
	}
	return out
}

// openIdle opens the chat as a new browser and closes it again, leaving
// a session that nobody resumes; it returns the welcome.
func openIdle(tb testing.TB, s *server.Server, base string) widgettest.Frame {
	tb.Helper()
	c := widgettest.MustDial(tb, widgettest.URL(base, "demo"), widgettest.Options{Origin: "http://localhost:3000"})
	w := c.MustHello(widgettest.Hello{})
	c.UntilPrompt("")
	c.CloseNow()
	waitUntil(tb, 5*time.Second, "the socket to close", func() bool { return !s.Gateway.Active(w.Session) })
	return w
}

// drained waits until every event waiting for the endpoint went out.
func drained(tb testing.TB, s *server.Server) {
	tb.Helper()
	waitUntil(tb, 10*time.Second, "the outbox to empty", func() bool { return s.Store.OutboxStats("demo/crm").Waiting == 0 })
}

func mustSweepIdle(tb testing.TB, s *server.Server) storage.IdleSweep {
	tb.Helper()
	res, err := s.SweepIdle(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// TestWebhooks_SessionTimeout: with an injected clock, a session left idle
// past the site's 30 minutes gets one session.ended, reason timeout; one
// the story ended got its own, reason story, and is not swept; one the
// visitor came back to inside the timeout is ended only when it idles
// again; an erased visitor's session gets none; a restart sends nothing
// twice.
func TestWebhooks_SessionTimeout(t *testing.T) {
	r := webhooktest.New(t)
	path := webhookConfig(t, hook("crm", r.URL, true))
	sc, ps := server.LoadConfig(path)
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	cfg := server.Config{Sites: sc.Sites, Webhooks: sc.Webhooks, ConfigFile: path, DataDir: t.TempDir(), AdminToken: adminToken, Now: clock.Now}
	cfg.WebhookLimits.BackoffBase = 50 * time.Millisecond
	r.SetClock(clock.Now) // it signs with the time it is given
	s, err := server.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx := context.Background()
	// Serve's first sweep: nothing has timed out.
	if res := mustSweepIdle(t, s); res.Ended != 0 {
		t.Fatalf("first sweep: %+v", res)
	}

	idle := openIdle(t, s, ts.URL)
	back := openIdle(t, s, ts.URL)
	erased := openIdle(t, s, ts.URL)
	story := newStoryClient(ts.URL, "ends")
	story.story(t, ctx)
	if !story.ended {
		t.Fatal("the story did not end")
	}
	story.close()
	resp, _ := adminDo(t, http.MethodDelete, ts.URL+"/admin/api/users/"+erased.Visitor)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("erase: %s", resp.Status)
	}

	// 20 minutes on (once what was signed went out: the receiver checks
	// the signature's time against the clock), the visitor comes back to
	// one and says something.
	drained(t, s)
	clock.Add(20 * time.Minute)
	c := widgettest.MustDial(t, widgettest.URL(ts.URL, "demo"), widgettest.Options{Origin: "http://localhost:3000"})
	if w := c.MustHello(widgettest.Hello{Token: back.Token, Session: back.Session}); w.Resumed == nil || !*w.Resumed {
		t.Fatalf("not resumed: %+v", w)
	}
	c.MustText("b1", "still there?")
	c.Until(widgettest.TypeAck)
	c.CloseNow()
	waitUntil(t, 5*time.Second, "the socket to close", func() bool { return !s.Gateway.Active(back.Session) })

	// 31 minutes after the start: only the first has timed out.
	drained(t, s)
	clock.Add(11 * time.Minute)
	if res := mustSweepIdle(t, s); res.Ended != 1 {
		t.Fatalf("sweep at 31 minutes: %+v, want 1 ended", res)
	}
	mustSweepIdle(t, s)
	waitUntil(t, 10*time.Second, "the timeout's session.ended", func() bool { return len(endedBy(t, r)[idle.Session]) > 0 })
	got := endedBy(t, r)
	if len(got) != 2 || len(got[idle.Session]) != 1 || got[idle.Session][0] != storage.EndedByTimeout ||
		len(got[story.session]) != 1 || got[story.session][0] != storage.EndedByStory {
		t.Fatalf("session.ended: %v; want timeout for %s, story for %s", got, idle.Session, story.session)
	}
	drained(t, s)
	s.Close()

	// A restart, 30 minutes after the visitor came back.
	clock.Add(20 * time.Minute)
	s2, _ := startServer(t, cfg)
	if res := mustSweepIdle(t, s2); res.Ended != 1 {
		t.Fatalf("sweep after the restart: %+v, want 1 ended", res)
	}
	waitUntil(t, 10*time.Second, "the resumed session's session.ended", func() bool { return len(endedBy(t, r)[back.Session]) > 0 })
	drained(t, s2)
	clock.Add(time.Hour)
	if res := mustSweepIdle(t, s2); res.Ended != 0 {
		t.Fatalf("a later sweep: %+v", res)
	}
	got = endedBy(t, r)
	want := map[string]string{idle.Session: storage.EndedByTimeout, story.session: storage.EndedByStory, back.Session: storage.EndedByTimeout}
	if len(got) != len(want) {
		t.Fatalf("session.ended: %v, want %v (none for the erased visitor's %s)", got, want, erased.Session)
	}
	for sid, reason := range want {
		if len(got[sid]) != 1 || got[sid][0] != reason {
			t.Fatalf("session %s: %v, want one %s", sid, got[sid], reason)
		}
	}
	if n := r.BadSignatures(); n != 0 {
		t.Fatalf("%d bad signatures", n)
	}
}

// TestWebhooks_SessionTimeoutServing: a serving Parley looks for timed-out
// sessions on its own, at start and then every IdleSweep.Every.
func TestWebhooks_SessionTimeoutServing(t *testing.T) {
	r := webhooktest.New(t)
	path := webhookConfig(t, hook("crm", r.URL, true))
	sc, ps := server.LoadConfig(path)
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	r.SetClock(clock.Now)
	cfg := server.Config{Sites: sc.Sites, Webhooks: sc.Webhooks, DataDir: t.TempDir(), AdminToken: adminToken, Now: clock.Now}
	cfg.IdleSweep.Every = 20 * time.Millisecond
	s, err := server.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	w := openIdle(t, s, "http://"+ln.Addr().String())
	time.Sleep(100 * time.Millisecond) // a few sweeps: none ends it yet
	if got := endedBy(t, r); len(got) != 0 {
		t.Fatalf("ended before its timeout: %v", got)
	}
	drained(t, s)
	clock.Add(31 * time.Minute)
	waitUntil(t, 10*time.Second, "session.ended", func() bool { return len(endedBy(t, r)[w.Session]) > 0 })
	time.Sleep(100 * time.Millisecond)
	if got := endedBy(t, r); len(got) != 1 || len(got[w.Session]) != 1 || got[w.Session][0] != storage.EndedByTimeout {
		t.Fatalf("session.ended: %v, want one timeout for %s", got, w.Session)
	}
}
