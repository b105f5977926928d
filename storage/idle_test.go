package storage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// idleLive is a Liveness with one timeout for every site and the sockets
// a test opens.
type idleLive struct {
	timeout time.Duration
	active  map[string]bool
}

func (l *idleLive) Active(id string) bool { return l.active[id] }
func (l *idleLive) ActiveSessions() []string {
	var ids []string
	for id := range l.active {
		ids = append(ids, id)
	}
	return ids
}
func (l *idleLive) SessionTimeout(string) time.Duration { return l.timeout }
func (l *idleLive) MaxSessionTimeout() time.Duration    { return l.timeout }

// endedReasons returns the reason of each session.ended waiting for ep,
// by session.
func endedReasons(tb testing.TB, s *storage.Store, ep string) map[string][]string {
	tb.Helper()
	types, bodies := outboxTypes(tb, s, ep)
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

func mustSweepIdle(tb testing.TB, s *storage.Store, now time.Time, live storage.Liveness, limit int) storage.IdleSweep {
	tb.Helper()
	res, err := s.SweepIdle(context.Background(), now, live, limit)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// TestSweepIdle: a session idle past the timeout gets one session.ended
// with reason timeout, however often the sweep runs and across a reopen
// of the store; a session the story ended keeps its one (reason story);
// one with a socket open (kept in sh/ once the watermark passes it), or
// not idle long enough, waits and is ended by a later sweep; an erased visitor's session gets none; a site no
// endpoint wants it for gets none and no marker.
func TestSweepIdle(t *testing.T) {
	s, dir := MustOpen(t)
	ctx := context.Background()
	routeAll(s, 0, "demo/a")
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	live := &idleLive{timeout: 30 * time.Minute, active: map[string]bool{}}

	idle := mustSession(t, s, storage.NewID(t0), t0)
	story := mustSession(t, s, storage.NewID(t0), t0.Add(time.Second))
	end := &storage.Turn{SessionID: story.ID, ClientID: "c1", Touch: t0.Add(2 * time.Second), State: &storage.State{Ended: true, Current: "bye"}}
	if _, _, _, err := s.RecordTurn(ctx, end); err != nil {
		t.Fatal(err)
	}
	open := mustSession(t, s, storage.NewID(t0), t0.Add(3*time.Second))
	live.active[open.ID] = true
	late := mustSession(t, s, storage.NewID(t0), t0.Add(20*time.Minute))
	erased := mustSession(t, s, storage.NewID(t0), t0.Add(4*time.Second))
	if _, err := s.EraseVisitor(ctx, erased.VisitorID); err != nil {
		t.Fatal(err)
	}
	other := &storage.Visitor{ID: storage.NewID(t0), Site: "other", Channel: "web", CreatedAt: t0}
	otherSess := &storage.Session{ID: storage.NewID(t0), Site: "other", VisitorID: other.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: t0}
	if err := s.CreateSession(ctx, other, otherSess); err != nil {
		t.Fatal(err)
	}

	// The first sweep ever looks back one timeout from its now: what
	// timed out before it is not announced.
	if res := mustSweepIdle(t, s, t0.Add(time.Minute), live, 0); res.Ended != 0 || res.Scanned != 4 {
		t.Fatalf("first sweep: %+v, want 4 scanned (the late one is later), none ended", res)
	}
	now := t0.Add(31 * time.Minute)
	res := mustSweepIdle(t, s, now, live, 0)
	if res.Ended != 1 || res.More {
		t.Fatalf("first sweep: %+v, want 1 ended", res)
	}
	got := endedReasons(t, s, "demo/a")
	if want := []string{"timeout"}; fmt.Sprint(got[idle.ID]) != fmt.Sprint(want) {
		t.Fatalf("idle session: %v, want %v", got[idle.ID], want)
	}
	if want := []string{"story"}; fmt.Sprint(got[story.ID]) != fmt.Sprint(want) {
		t.Fatalf("story's end: %v, want %v", got[story.ID], want)
	}
	for _, id := range []string{open.ID, late.ID, erased.ID} {
		if len(got[id]) != 0 {
			t.Fatalf("session %s ended early: %v", id, got[id])
		}
	}

	if n := countKeys(t, s, "sh/"); n != 1 {
		t.Errorf("held sessions: %d, want 1 (the one with a socket open)", n)
	}
	// Again, then after a reopen: nothing new until the others time out.
	mustSweepIdle(t, s, now.Add(time.Minute), live, 0)
	s.Close()
	s, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	routeAll(s, 0, "demo/a")
	if res := mustSweepIdle(t, s, now.Add(2*time.Minute), live, 0); res.Ended != 0 {
		t.Fatalf("after the reopen: %+v, want none ended", res)
	}
	// The socket closes; the late session times out too; the open one,
	// kept from being swept while its socket was open, ends now.
	delete(live.active, open.ID)
	later := t0.Add(51 * time.Minute)
	if res := mustSweepIdle(t, s, later, live, 0); res.Ended != 2 {
		t.Fatalf("later: %+v, want 2 ended", res)
	}
	mustSweepIdle(t, s, later.Add(time.Hour), live, 0)
	got = endedReasons(t, s, "demo/a")
	for _, id := range []string{idle.ID, open.ID, late.ID} {
		if fmt.Sprint(got[id]) != "[timeout]" {
			t.Errorf("session %s: %v, want one timeout", id, got[id])
		}
	}
	if len(got[erased.ID]) != 0 || len(got) != 4 {
		t.Errorf("session.ended events: %v", got)
	}
	if n := countKeys(t, s, "sh/"); n != 0 {
		t.Errorf("held sessions at the end: %d, want 0", n)
	}
	if n := countKeys(t, s, "se/"); n != 3 {
		t.Errorf("markers: %d, want 3 (none for site other)", n)
	}
	// Erasing the visitor takes its marker too.
	if _, err := s.EraseVisitor(ctx, idle.VisitorID); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, "se/"); n != 2 {
		t.Errorf("markers after an erase: %d, want 2", n)
	}
}

// countKeys counts the keys under prefix.
func countKeys(tb testing.TB, s *storage.Store, prefix string) int {
	tb.Helper()
	n := 0
	if err := s.Scan(context.Background(), prefix, func(string, []byte) error { n++; return nil }); err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestSweepIdle_EraseHeld: a session kept in sh/ (a socket open past the
// watermark) leaves it with its visitor's erase, and gets no event.
func TestSweepIdle_EraseHeld(t *testing.T) {
	s, _ := MustOpen(t)
	routeAll(s, 0, "demo/a")
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	live := &idleLive{timeout: 30 * time.Minute, active: map[string]bool{}}
	mustSweepIdle(t, s, t0, live, 0)
	sess := mustSession(t, s, storage.NewID(t0), t0.Add(time.Second))
	live.active[sess.ID] = true
	mustSweepIdle(t, s, t0.Add(time.Hour), live, 0)
	if n := countKeys(t, s, "sh/"); n != 1 {
		t.Fatalf("held sessions: %d, want 1", n)
	}
	if _, err := s.EraseVisitor(context.Background(), sess.VisitorID); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, "sh/"); n != 0 {
		t.Fatalf("held sessions after the erase: %d, want 0", n)
	}
	delete(live.active, sess.ID)
	if res := mustSweepIdle(t, s, t0.Add(2*time.Hour), live, 0); res.Ended != 0 {
		t.Fatalf("after the erase: %+v, want none ended", res)
	}
}
