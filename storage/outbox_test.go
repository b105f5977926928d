package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/storagetest"
)

// routeAll sends every event of site demo to the endpoints eps and counts
// the notifications.
func routeAll(s *storage.Store, max int, eps ...string) *sync.Map {
	notified := &sync.Map{}
	s.SetOutbox(storage.OutboxConfig{
		Route: func(site, typ string) []string {
			if site != "demo" {
				return nil
			}
			return eps
		},
		MaxBacklog: max,
		Notify:     func(ep string) { notified.Store(ep, true) },
	})
	return notified
}

// outboxTypes returns the event types waiting for ep, in order, and the
// decoded bodies.
func outboxTypes(tb testing.TB, s *storage.Store, ep string) ([]string, []map[string]any) {
	tb.Helper()
	es, err := s.Outbox(context.Background(), ep, "", 1000)
	if err != nil {
		tb.Fatal(err)
	}
	var types []string
	var bodies []map[string]any
	for _, e := range es {
		var b map[string]any
		if err := json.Unmarshal(e.Body, &b); err != nil {
			tb.Fatalf("body %q: %v", e.Body, err)
		}
		if b["type"] != e.Type || !strings.HasPrefix(e.ID, "msg_") {
			tb.Fatalf("entry %+v: body type %v", e, b["type"])
		}
		types = append(types, e.Type)
		bodies = append(bodies, b)
	}
	return types, bodies
}

// TestOutbox_EraseLeavesOnlyErased: an erase takes the visitor's waiting
// events out of the outbox and puts visitor.erased in; nothing else of
// the visitor is left. (The write side, on both engines, is the contract
// suite's: storage/contract/turn_outbox.go.)
func TestOutbox_EraseLeavesOnlyErased(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	routeAll(s, 0, "demo/a", "demo/b")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := &storage.Visitor{ID: storage.NewID(t0), Site: "demo", Channel: "web", CreatedAt: t0}
	sess := &storage.Session{ID: storage.NewID(t0), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: t0}
	opening := &storage.Turn{Messages: []storage.Message{{From: storage.FromBot, Kind: storage.KindBot, At: t0, Text: "Hi!"}}}
	if err := s.StartSession(ctx, v, sess, opening); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Second)
	turn := &storage.Turn{SessionID: sess.ID, ClientID: "c1",
		Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindFile, At: t1, File: &storage.FileRef{ID: storage.NewID(t1), Name: "x.pdf", Size: 3, Type: "application/pdf"}}},
		Inputs:   []storage.Input{{Block: "email", Variable: "email", Kind: "email", Value: "a@b.org", At: t1}},
	}
	if _, _, _, err := s.RecordTurn(ctx, turn); err != nil {
		t.Fatal(err)
	}
	if types, _ := outboxTypes(t, s, "demo/a"); len(types) != 5 {
		t.Fatalf("waiting before the erase: %v", types)
	}

	// Erase: the visitor's waiting events go, visitor.erased comes.
	if _, err := s.EraseVisitor(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	types, bodies := outboxTypes(t, s, "demo/a")
	if len(types) != 1 || types[0] != "visitor.erased" || bodies[0]["data"].(map[string]any)["visitor"] != v.ID {
		t.Fatalf("after erase: %v %v", types, bodies)
	}
	if st := s.OutboxStats("demo/a"); st.Waiting != 1 {
		t.Fatalf("stats after erase %+v", st)
	}
	// Nothing else of the visitor is left: only visitor.erased and its
	// index entries name it.
	for k, val := range storagetest.Dump(t, s, "") {
		if !strings.Contains(k, v.ID) && !strings.Contains(string(val), v.ID) {
			continue
		}
		if !strings.HasPrefix(k, "wv/"+v.ID+"/wq/") && !(strings.HasPrefix(k, "wq/") && strings.Contains(string(val), `"type":"visitor.erased"`)) {
			t.Errorf("after the erase %q still names the visitor", k)
		}
	}
}

// TestOutbox_BacklogAcrossRestart: the backlog counts survive a restart
// (the rest of the backlog's rules, on both engines, are the contract
// suite's).
func TestOutbox_BacklogAcrossRestart(t *testing.T) {
	s, dir := MustOpen(t)
	ctx := context.Background()
	routeAll(s, 3, "demo/a")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sess := mustSession(t, s, storage.NewID(t0), t0) // session.started: 1
	for i := range 4 {
		at := t0.Add(time.Duration(i+1) * time.Second)
		if _, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: at, Text: "hi"}}}); err != nil {
			t.Fatal(err)
		}
	}
	// The counts survive a restart.
	s.Close()
	s2, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if st := s2.OutboxStats("demo/a"); st.Waiting != 3 {
		t.Fatalf("stats after reopen %+v", st)
	}
}

// TestOutbox_DoneLogResend: an attempt is logged with the entry's fate in
// one write; a failed entry keeps its place with its attempts; a logged
// attempt can be sent again, with the same webhook-id and body.
func TestOutbox_DoneLogResend(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	routeAll(s, 0, "demo/a")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mustSession(t, s, storage.NewID(t0), t0)
	es, err := s.Outbox(ctx, "demo/a", "", 10)
	if err != nil || len(es) != 1 {
		t.Fatalf("outbox %v %v", es, err)
	}
	e := es[0]
	e.Attempts, e.NextAt, e.FirstFailedAt = 1, t0.Add(time.Minute), t0
	st := storage.EndpointState{FailingSince: t0, LastFailureAt: t0}
	if err := s.OutboxDone(ctx, &e, &storage.Attempt{EventID: e.ID, Type: e.Type, Lane: e.Lane, Visitor: e.Visitor, At: t0, Attempt: 1, Outcome: storage.OutcomeFailed, Status: 500, Body: e.Body}, &st); err != nil {
		t.Fatal(err)
	}
	es, _ = s.Outbox(ctx, "demo/a", "", 10)
	if len(es) != 1 || es[0].Attempts != 1 || !es[0].NextAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after a failure: %+v", es)
	}
	if got, _ := s.EndpointState(ctx, "demo/a"); !got.FailingSince.Equal(t0) {
		t.Fatalf("state %+v", got)
	}
	e = es[0]
	if err := s.OutboxDone(ctx, &e, &storage.Attempt{EventID: e.ID, Type: e.Type, Lane: e.Lane, Visitor: e.Visitor, At: t0, Attempt: 2, Outcome: storage.OutcomeDelivered, Status: 204, Body: e.Body}, nil); err != nil {
		t.Fatal(err)
	}
	if es, _ = s.Outbox(ctx, "demo/a", "", 10); len(es) != 0 || s.OutboxStats("demo/a").Waiting != 0 {
		t.Fatalf("after delivery: %+v", es)
	}
	log, err := s.DeliveryLog(ctx, "demo/a", 10)
	if err != nil || len(log) != 2 || log[0].Outcome != storage.OutcomeDelivered || log[1].Status != 500 {
		t.Fatalf("log %+v %v", log, err)
	}
	again, err := s.Resend(ctx, "demo/a", log[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	es, _ = s.Outbox(ctx, "demo/a", "", 10)
	if len(es) != 1 || es[0].ID != e.ID || string(es[0].Body) != string(e.Body) || !es[0].Resent || again.ID != e.ID {
		t.Fatalf("resent %+v", es)
	}
	if _, err := s.Resend(ctx, "demo/a", "00000000000000ff"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("resend of an unknown attempt: %v", err)
	}
	// The log keeps the last DeliveryLogKeep.
	for i := range storage.DeliveryLogKeep + 5 {
		a := storage.Attempt{EventID: e.ID, Visitor: e.Visitor, Attempt: i + 1, Outcome: storage.OutcomeFailed, Body: e.Body}
		if err := s.OutboxDone(ctx, &es[0], &a, nil); err != nil {
			t.Fatal(err)
		}
	}
	if log, _ = s.DeliveryLog(ctx, "demo/a", 1000); len(log) != storage.DeliveryLogKeep || log[0].Attempt != storage.DeliveryLogKeep+5 {
		t.Fatalf("log kept %d, newest attempt %d", len(log), log[0].Attempt)
	}
	// The visitor index holds the waiting entry and the kept attempts.
	if n := storagetest.CountKeys(t, s, "wv/")["wv/"]; n != storage.DeliveryLogKeep+1 {
		t.Fatalf("%d visitor index entries, want %d", n, storage.DeliveryLogKeep+1)
	}
}

// TestOutbox_EraseMerged: erasing a user also takes the waiting events of
// a browser's visitor that was merged into it (identify).
func TestOutbox_EraseMerged(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	routeAll(s, 0, "demo/a")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	first := mustSession(t, s, storage.NewID(t0), t0)
	second := mustSession(t, s, storage.NewID(t0), t0.Add(time.Minute))
	at := storage.ProfileEdit{By: storage.ByIdentify, At: t0.Add(time.Hour)}
	if _, err := s.Identify(ctx, storage.IdentifyRequest{Site: "demo", VisitorID: first.VisitorID, UserID: "acct", Profile: at}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Identify(ctx, storage.IdentifyRequest{Site: "demo", VisitorID: second.VisitorID, UserID: "acct", Profile: at})
	if err != nil || res.Merged != second.VisitorID {
		t.Fatalf("identify: %+v %v, want a merge", res, err)
	}
	if _, err := s.EraseVisitor(ctx, first.VisitorID); err != nil {
		t.Fatal(err)
	}
	es, err := s.Outbox(ctx, "demo/a", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Type != storage.EventVisitorErased || e.Visitor != first.VisitorID {
			t.Errorf("after the erase, %s of %s still waits", e.Type, e.Visitor)
		}
	}
	if n := storagetest.CountKeys(t, s, "wv/"+second.VisitorID+"/")["wv/"+second.VisitorID+"/"]; n != 0 {
		t.Errorf("%d index entries of the merged visitor left", n)
	}
}

// TestOutbox_NoEndpointNoEvents: while no endpoint takes events
// (OutboxConfig.Any says so), a session's start and its turns derive no
// events, so a Parley without webhooks does not pay for them; once one
// does, the next turn's events are routed and wait for it.
func TestOutbox_NoEndpointNoEvents(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	var routing atomic.Bool
	var asked atomic.Int64
	s.SetOutbox(storage.OutboxConfig{
		Route: func(site, typ string) []string { asked.Add(1); return []string{"demo/a"} },
		Any:   routing.Load,
	})
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sess := mustSession(t, s, storage.NewID(t0), t0)
	say := func(cid string, at time.Time) {
		t.Helper()
		turn := &storage.Turn{SessionID: sess.ID, ClientID: cid, Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: at, Text: "hello"}}}
		if _, _, _, err := s.RecordTurn(ctx, turn); err != nil {
			t.Fatal(err)
		}
	}
	say("c1", t0.Add(time.Second))
	if n := asked.Load(); n != 0 {
		t.Fatalf("no endpoint takes events, yet routes were asked %d times", n)
	}
	if types, _ := outboxTypes(t, s, "demo/a"); len(types) != 0 {
		t.Fatalf("waiting without an endpoint: %v", types)
	}
	routing.Store(true)
	say("c2", t0.Add(2*time.Second))
	if types, _ := outboxTypes(t, s, "demo/a"); len(types) != 1 || types[0] != storage.EventMessageCreated {
		t.Fatalf("waiting once an endpoint takes events: %v", types)
	}
}
