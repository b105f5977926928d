package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// lcLive is a Liveness with one timeout for every site and the sockets
// a test opens.
type lcLive struct {
	timeout time.Duration
	active  map[string]bool
}

func (l *lcLive) Active(id string) bool { return l.active[id] }
func (l *lcLive) ActiveSessions() []string {
	var ids []string
	for id := range l.active {
		ids = append(ids, id)
	}
	return ids
}
func (l *lcLive) SessionTimeout(string) time.Duration { return l.timeout }
func (l *lcLive) MaxSessionTimeout() time.Duration    { return l.timeout }

// lcRouteAll sends every event of site demo to the endpoints eps, with a
// backlog of max (0: the default).
func lcRouteAll(e LifecycleEngine, max int, eps ...string) {
	e.SetOutbox(storage.OutboxConfig{
		Route: func(site, typ string) []string {
			if site != "demo" {
				return nil
			}
			return eps
		},
		MaxBacklog: max,
	})
}

// lcOutboxTypes returns the event types waiting for ep, in order, and the
// decoded bodies.
func lcOutboxTypes(tb testing.TB, e LifecycleEngine, ep string) ([]string, []map[string]any) {
	tb.Helper()
	es, err := e.Outbox(context.Background(), ep, "", 1000)
	if err != nil {
		tb.Fatal(err)
	}
	var types []string
	var bodies []map[string]any
	for _, en := range es {
		var b map[string]any
		if err := json.Unmarshal(en.Body, &b); err != nil {
			tb.Fatalf("body %q: %v", en.Body, err)
		}
		if b["type"] != en.Type || !strings.HasPrefix(en.ID, "msg_") || en.Endpoint != ep || en.Key == "" {
			tb.Fatalf("entry %+v: body type %v", en, b["type"])
		}
		types = append(types, en.Type)
		bodies = append(bodies, b)
	}
	return types, bodies
}

// lcEndedReasons returns the reason of each session.ended waiting for ep,
// by session.
func lcEndedReasons(tb testing.TB, e LifecycleEngine, ep string) map[string][]string {
	tb.Helper()
	types, bodies := lcOutboxTypes(tb, e, ep)
	out := map[string][]string{}
	for i, typ := range types {
		if typ != storage.EventSessionEnded {
			continue
		}
		data := bodies[i]["data"].(map[string]any)
		ended := data["ended"].(map[string]any)
		out[data["session"].(string)] = append(out[data["session"].(string)], fmt.Sprint(ended["reason"]))
	}
	return out
}

func lcSweepIdle(tb testing.TB, e LifecycleEngine, now time.Time, live storage.Liveness, limit int) storage.IdleSweep {
	tb.Helper()
	res, err := e.SweepIdle(context.Background(), now, live, limit)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// lcTestIdle: a session idle past the timeout gets one session.ended with
// reason timeout, however often the sweep runs; a session the story ended
// keeps its one (reason story); one with a socket open, or not idle long
// enough, waits and is ended by a later sweep; an erased visitor's
// session gets none; a site no endpoint wants it for gets none.
func lcTestIdle(t *testing.T, e LifecycleEngine) {
	ctx := context.Background()
	lcRouteAll(e, 0, "demo/a")
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	live := &lcLive{timeout: 30 * time.Minute, active: map[string]bool{}}

	idle := lcSession(t, e, t0)
	story := lcSession(t, e, t0.Add(time.Second))
	end := &storage.Turn{SessionID: story.ID, ClientID: "c1", Touch: t0.Add(2 * time.Second), State: &storage.State{Ended: true, Current: "bye"}}
	if _, _, _, err := e.RecordTurn(ctx, end); err != nil {
		t.Fatal(err)
	}
	open := lcSession(t, e, t0.Add(3*time.Second))
	live.active[open.ID] = true
	late := lcSession(t, e, t0.Add(20*time.Minute))
	erased := lcSession(t, e, t0.Add(4*time.Second))
	if _, err := e.EraseVisitor(ctx, erased.VisitorID); err != nil {
		t.Fatal(err)
	}
	lcSessionOf(t, e, "other", storage.NewID(t0), t0)

	// The first sweep ever looks back one timeout from its now: what
	// timed out before it is not announced.
	if res := lcSweepIdle(t, e, t0.Add(time.Minute), live, 0); res.Ended != 0 || res.Scanned != 4 {
		t.Fatalf("first sweep: %+v, want 4 scanned (the late one is later), none ended", res)
	}
	now := t0.Add(31 * time.Minute)
	if res := lcSweepIdle(t, e, now, live, 0); res.Ended != 1 || res.More {
		t.Fatalf("sweep: %+v, want 1 ended", res)
	}
	got := lcEndedReasons(t, e, "demo/a")
	if fmt.Sprint(got[idle.ID]) != "[timeout]" || fmt.Sprint(got[story.ID]) != "[story]" {
		t.Fatalf("idle session: %v, story's end: %v; want [timeout], [story]", got[idle.ID], got[story.ID])
	}
	for _, id := range []string{open.ID, late.ID, erased.ID} {
		if len(got[id]) != 0 {
			t.Fatalf("session %s ended early: %v", id, got[id])
		}
	}
	// Again: nothing new until the others time out.
	for _, at := range []time.Time{now.Add(time.Minute), now.Add(2 * time.Minute)} {
		if res := lcSweepIdle(t, e, at, live, 0); res.Ended != 0 {
			t.Fatalf("sweep at %v: %+v, want none ended", at, res)
		}
	}
	// The socket closes; the late session times out too; the open one,
	// kept from being swept while its socket was open, ends now.
	delete(live.active, open.ID)
	later := t0.Add(51 * time.Minute)
	if res := lcSweepIdle(t, e, later, live, 0); res.Ended != 2 {
		t.Fatalf("later: %+v, want 2 ended", res)
	}
	lcSweepIdle(t, e, later.Add(time.Hour), live, 0)
	got = lcEndedReasons(t, e, "demo/a")
	for _, id := range []string{idle.ID, open.ID, late.ID} {
		if fmt.Sprint(got[id]) != "[timeout]" {
			t.Errorf("session %s: %v, want one timeout", id, got[id])
		}
	}
	if len(got[erased.ID]) != 0 || len(got) != 4 {
		t.Errorf("session.ended events: %v", got)
	}
	// The event tells when the session stopped being resumable.
	_, bodies := lcOutboxTypes(t, e, "demo/a")
	for _, b := range bodies {
		data := b["data"].(map[string]any)
		if b["type"] == storage.EventSessionEnded && data["session"] == idle.ID {
			ended := data["ended"].(map[string]any)
			if ended["at"] != t0.Add(30*time.Minute).Format(time.RFC3339) || ended["lastActivityAt"] != t0.Format(time.RFC3339) {
				t.Errorf("session.ended of the idle session: %v", ended)
			}
		}
	}

	t.Run("BadInput", func(t *testing.T) {
		// A negative limit is the default; a cancelled sweep fails.
		if _, err := e.SweepIdle(ctx, later.Add(2*time.Hour), live, -1); err != nil {
			t.Error(err)
		}
	})
}

// lcTestIdleBounded: a sweep reads at most its limit of sessions and says
// there is more; the next sweeps go on from there, each session ended
// once.
func lcTestIdleBounded(t *testing.T, e LifecycleEngine) {
	lcRouteAll(e, 0, "demo/a")
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	live := &lcLive{timeout: time.Hour, active: map[string]bool{}}
	for i := range 7 {
		lcSession(t, e, t0.Add(time.Duration(i)*time.Second))
	}
	lcSweepIdle(t, e, t0, live, 3)
	now := t0.Add(time.Hour + time.Minute)
	total := 0
	for i := 0; ; i++ {
		res := lcSweepIdle(t, e, now, live, 3)
		if res.Scanned > 3 {
			t.Fatalf("sweep %d read %d sessions, over its limit", i, res.Scanned)
		}
		total += res.Ended
		if !res.More {
			break
		}
		if i > 5 {
			t.Fatal("the sweeps never finish")
		}
	}
	if total != 7 || len(lcEndedReasons(t, e, "demo/a")) != 7 {
		t.Fatalf("ended %d, want 7", total)
	}
	if res := lcSweepIdle(t, e, now, live, 3); res.Ended != 0 {
		t.Fatalf("a further sweep: %+v", res)
	}
}

// lcTestIdleEraseHeld: a session a socket kept open past the watermark gets
// no event once its visitor is erased.
func lcTestIdleEraseHeld(t *testing.T, e LifecycleEngine) {
	lcRouteAll(e, 0, "demo/a")
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	live := &lcLive{timeout: 30 * time.Minute, active: map[string]bool{}}
	lcSweepIdle(t, e, t0, live, 0)
	sess := lcSession(t, e, t0.Add(time.Second))
	live.active[sess.ID] = true
	lcSweepIdle(t, e, t0.Add(time.Hour), live, 0)
	if _, err := e.EraseVisitor(context.Background(), sess.VisitorID); err != nil {
		t.Fatal(err)
	}
	delete(live.active, sess.ID)
	if res := lcSweepIdle(t, e, t0.Add(2*time.Hour), live, 0); res.Ended != 0 {
		t.Fatalf("after the erase: %+v, want none ended", res)
	}
	lcAssertGone(t, e, lcSeeded{ID: sess.VisitorID, Sessions: []string{sess.ID}}, lcErasedEvent)
}

// lcErasedEvent allows the visitor.erased event to name the visitor.
func lcErasedEvent(_, v string) bool { return strings.Contains(v, storage.EventVisitorErased) }
