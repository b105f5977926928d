package contract

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// lcTestDoneLogResend: an attempt is logged with the entry's fate in one
// write; a failed entry keeps its place with its attempts; a logged
// attempt can be sent again, with the same webhook-id and body; the log
// keeps the last storage.DeliveryLogKeep.
func lcTestDoneLogResend(t *testing.T, e LifecycleEngine) {
	ctx := context.Background()
	lcRouteAll(e, 0, "demo/a")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lcSession(t, e, t0)
	es, err := e.Outbox(ctx, "demo/a", "", 10)
	if err != nil || len(es) != 1 {
		t.Fatalf("outbox %v %v", es, err)
	}
	en := es[0]
	en.Attempts, en.NextAt, en.FirstFailedAt = 1, t0.Add(time.Minute), t0
	st := storage.EndpointState{FailingSince: t0, LastFailureAt: t0}
	failed := &storage.Attempt{EventID: en.ID, Type: en.Type, Lane: en.Lane, Visitor: en.Visitor, At: t0, Attempt: 1,
		Outcome: storage.OutcomeFailed, Status: 500, Error: "500 Internal Server Error", TookMs: 12, NextAt: t0.Add(time.Minute), Body: en.Body}
	if err := e.OutboxDone(ctx, &en, failed, &st); err != nil {
		t.Fatal(err)
	}
	if len(failed.ID) != 16 {
		t.Errorf("the attempt's ID %q, want 16 hex digits", failed.ID)
	}
	es, _ = e.Outbox(ctx, "demo/a", "", 10)
	if len(es) != 1 || es[0].Attempts != 1 || !es[0].NextAt.Equal(t0.Add(time.Minute)) || !es[0].FirstFailedAt.Equal(t0) || es[0].Key != en.Key {
		t.Fatalf("after a failure: %+v", es)
	}
	if got, err := e.EndpointState(ctx, "demo/a"); err != nil || got != st {
		t.Fatalf("state %+v %v, want %+v", got, err, st)
	}
	en = es[0]
	if err := e.OutboxDone(ctx, &en, &storage.Attempt{EventID: en.ID, Type: en.Type, Lane: en.Lane, Visitor: en.Visitor, At: t0, Attempt: 2, Outcome: storage.OutcomeDelivered, Status: 204, Body: en.Body}, nil); err != nil {
		t.Fatal(err)
	}
	if es, _ = e.Outbox(ctx, "demo/a", "", 10); len(es) != 0 || e.OutboxStats("demo/a").Waiting != 0 {
		t.Fatalf("after delivery: %+v, %+v", es, e.OutboxStats("demo/a"))
	}
	if got, _ := e.EndpointState(ctx, "demo/a"); got != st {
		t.Fatalf("state after a nil one: %+v, want it kept", got)
	}
	log, err := e.DeliveryLog(ctx, "demo/a", 10)
	if err != nil || len(log) != 2 || log[0].Outcome != storage.OutcomeDelivered || log[1].Status != 500 {
		t.Fatalf("log %+v %v", log, err)
	}
	want := *failed
	want.Body = log[1].Body
	if got := log[1]; got.ID != want.ID || got.EventID != want.EventID || got.Type != want.Type || got.Lane != want.Lane ||
		got.Visitor != want.Visitor || !got.At.Equal(want.At) || got.Attempt != 1 || got.Error != want.Error ||
		got.TookMs != 12 || !got.NextAt.Equal(want.NextAt) || string(got.Body) != string(en.Body) {
		t.Errorf("logged failure %+v, want %+v", got, want)
	}
	again, err := e.Resend(ctx, "demo/a", log[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	es, _ = e.Outbox(ctx, "demo/a", "", 10)
	if len(es) != 1 || es[0].ID != en.ID || string(es[0].Body) != string(en.Body) || !es[0].Resent || again.ID != en.ID || again.Key != es[0].Key || es[0].Attempts != 0 {
		t.Fatalf("resent %+v, returned %+v", es, again)
	}
	if st := e.OutboxStats("demo/a"); st.Waiting != 1 {
		t.Fatalf("stats after a resend %+v", st)
	}
	// The log keeps the last DeliveryLogKeep.
	for i := range storage.DeliveryLogKeep + 5 {
		a := storage.Attempt{EventID: en.ID, Visitor: en.Visitor, Attempt: i + 1, Outcome: storage.OutcomeFailed, Body: en.Body}
		if err := e.OutboxDone(ctx, &es[0], &a, nil); err != nil {
			t.Fatal(err)
		}
	}
	if log, _ = e.DeliveryLog(ctx, "demo/a", 1000); len(log) != storage.DeliveryLogKeep || log[0].Attempt != storage.DeliveryLogKeep+5 {
		t.Fatalf("log kept %d, newest attempt %d", len(log), log[0].Attempt)
	}
	if log, _ = e.DeliveryLog(ctx, "demo/a", 3); len(log) != 3 || log[2].Attempt != storage.DeliveryLogKeep+3 {
		t.Fatalf("a log of 3: %+v", log)
	}
	// Given up: the event leaves the outbox, logged as such.
	gaveUp := storage.Attempt{EventID: en.ID, Visitor: en.Visitor, Attempt: storage.DeliveryLogKeep + 6, Outcome: storage.OutcomeGaveUp, Body: en.Body}
	if err := e.OutboxDone(ctx, &es[0], &gaveUp, nil); err != nil {
		t.Fatal(err)
	}
	if es, _ = e.Outbox(ctx, "demo/a", "", 10); len(es) != 0 {
		t.Fatalf("after giving up: %+v", es)
	}
	if log, _ = e.DeliveryLog(ctx, "demo/a", 1); len(log) != 1 || log[0].Outcome != storage.OutcomeGaveUp || log[0].ID != gaveUp.ID {
		t.Fatalf("log after giving up: %+v", log)
	}
}

// lcTestWebhooksBadInput: unknown attempts, endpoints and limits answer
// plainly; an attempt at an entry that is gone is not logged; a resend
// past the backlog is refused.
func lcTestWebhooksBadInput(t *testing.T, e LifecycleEngine) {
	ctx := context.Background()
	lcRouteAll(e, 1, "demo/a")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sess := lcSession(t, e, t0)
	for _, id := range []string{"", "zz", "00", "00000000000000ff", "0000000000000000ff"} {
		if _, err := e.Resend(ctx, "demo/a", id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Resend(%q): %v, want ErrNotFound", id, err)
		}
	}
	for _, limit := range []int{0, -1} {
		if es, err := e.Outbox(ctx, "demo/a", "", limit); err != nil || len(es) != 0 {
			t.Errorf("Outbox limit %d: %v, %v; want none", limit, es, err)
		}
		if log, err := e.DeliveryLog(ctx, "demo/a", limit); err != nil || len(log) != 0 {
			t.Errorf("DeliveryLog limit %d: %v, %v; want none", limit, log, err)
		}
	}
	if es, err := e.Outbox(ctx, "nobody/x", "", 10); err != nil || len(es) != 0 {
		t.Errorf("Outbox of an unknown endpoint: %v, %v", es, err)
	}
	if st, err := e.EndpointState(ctx, "nobody/x"); err != nil || st != (storage.EndpointState{}) {
		t.Errorf("EndpointState of an unknown endpoint: %+v, %v", st, err)
	}
	paused := storage.EndpointState{LastFailureAt: t0, FailingSince: t0.Add(-lcDayLen), PausedAt: t0}
	if err := e.SetEndpointState(ctx, "demo/a", paused); err != nil {
		t.Fatal(err)
	}
	if st, err := e.EndpointState(ctx, "demo/a"); err != nil || st != paused {
		t.Errorf("EndpointState: %+v, %v; want %+v", st, err, paused)
	}
	if err := e.SetEndpointState(ctx, "demo/a", storage.EndpointState{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.EndpointState(ctx, "demo/a"); st != (storage.EndpointState{}) {
		t.Errorf("EndpointState after a reset: %+v", st)
	}

	es, err := e.Outbox(ctx, "demo/a", "", 10)
	if err != nil || len(es) != 1 {
		t.Fatalf("outbox %v %v", es, err)
	}
	if more, err := e.Outbox(ctx, "demo/a", es[0].Key, 10); err != nil || len(more) != 0 {
		t.Errorf("Outbox after the last: %v, %v", more, err)
	}
	delivered := storage.Attempt{EventID: es[0].ID, Type: es[0].Type, Lane: es[0].Lane, Visitor: es[0].Visitor, At: t0, Attempt: 1, Outcome: storage.OutcomeDelivered, Status: 200, Body: es[0].Body}
	if err := e.OutboxDone(ctx, &es[0], &delivered, nil); err != nil {
		t.Fatal(err)
	}
	// The entry is gone: a second attempt at it is not logged.
	st := storage.EndpointState{LastSuccessAt: t0}
	if err := e.OutboxDone(ctx, &es[0], &storage.Attempt{EventID: es[0].ID, Attempt: 2, Outcome: storage.OutcomeDelivered, Body: es[0].Body}, &st); err != nil {
		t.Fatal(err)
	}
	if log, _ := e.DeliveryLog(ctx, "demo/a", 10); len(log) != 1 {
		t.Errorf("log after an attempt at a gone entry: %d attempts, want 1", len(log))
	}
	if got, _ := e.EndpointState(ctx, "demo/a"); got != st {
		t.Errorf("state %+v, want %+v stored anyway", got, st)
	}
	// Backlog 1: one event waits, a resend is refused.
	if _, _, _, err := e.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: t0.Add(time.Second), Text: "hi"}}}); err != nil {
		t.Fatal(err)
	}
	log, _ := e.DeliveryLog(ctx, "demo/a", 1)
	if _, err := e.Resend(ctx, "demo/a", log[0].ID); !errors.Is(err, storage.ErrBacklogFull) {
		t.Errorf("resend past the backlog: %v, want ErrBacklogFull", err)
	}
	if _, err := e.Resend(ctx, "demo/b", log[0].ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("resend of another endpoint's attempt: %v, want ErrNotFound", err)
	}
}

// lcTestWebhooksErase: an erase takes the visitor's waiting events and
// logged attempts, and writes visitor.erased; nothing else of the
// visitor is left.
func lcTestWebhooksErase(t *testing.T, e LifecycleEngine) {
	ctx := context.Background()
	lcRouteAll(e, 0, "demo/a", "demo/b")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sess := lcSession(t, e, t0)
	other := lcSession(t, e, t0)
	if _, _, _, err := e.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, ClientID: "c1", Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: t0.Add(time.Second), Text: "hi"}}}); err != nil {
		t.Fatal(err)
	}
	// One delivered, logged with the visitor's data.
	es, _ := e.Outbox(ctx, "demo/a", "", 1)
	if err := e.OutboxDone(ctx, &es[0], &storage.Attempt{EventID: es[0].ID, Type: es[0].Type, Lane: es[0].Lane, Visitor: es[0].Visitor, At: t0, Attempt: 1, Outcome: storage.OutcomeDelivered, Body: es[0].Body}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.EraseVisitor(ctx, sess.VisitorID); err != nil {
		t.Fatal(err)
	}
	for _, ep := range []string{"demo/a", "demo/b"} {
		types, bodies := lcOutboxTypes(t, e, ep)
		if len(types) != 2 || types[0] != storage.EventSessionStarted || types[1] != storage.EventVisitorErased {
			t.Fatalf("%s after the erase: %v, want the other's session.started, visitor.erased", ep, types)
		}
		if d := bodies[1]["data"].(map[string]any); d["visitor"] != sess.VisitorID || d["site"] != "demo" || d["session"] != nil {
			t.Errorf("visitor.erased data %v", d)
		}
		if d := bodies[0]["data"].(map[string]any); d["visitor"] != other.VisitorID {
			t.Errorf("the other's event: %v", d)
		}
		if st := e.OutboxStats(ep); st.Waiting != 2 {
			t.Errorf("%s stats after the erase %+v", ep, st)
		}
	}
	if log, _ := e.DeliveryLog(ctx, "demo/a", 10); len(log) != 0 {
		t.Errorf("log after the erase: %+v", log)
	}
	lcAssertGone(t, e, lcSeeded{ID: sess.VisitorID, Sessions: []string{sess.ID}}, lcErasedEvent)
}

// lcTestWebhooksRetentionErase: a visitor the retention sweep erases is
// reported as visitor.erased, and its waiting events go with it.
func lcTestWebhooksRetentionErase(t *testing.T, e LifecycleEngine) {
	ctx := context.Background()
	lcRouteAll(e, 0, "demo/a")
	now := lcStart.Add(100 * lcDayLen)
	old := lcSeed(t, e, "demo", now.Add(-40*lcDayLen), "Old", "old@example.org", 1)
	recent := lcSeed(t, e, "demo", now.Add(-5*lcDayLen), "Recent", "recent@example.org", 1)
	if es, _ := e.Outbox(ctx, "demo/a", "", 1000); !slices.ContainsFunc(es, func(en storage.OutboxEntry) bool { return en.Visitor == old.ID }) {
		t.Fatal("no event of the old visitor before the sweep")
	}
	if _, err := e.SweepRetention(ctx, now, storage.Retention{Sites: map[string]time.Duration{"demo": 30 * lcDayLen}}); err != nil {
		t.Fatal(err)
	}
	es, err := e.Outbox(ctx, "demo/a", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	erased := 0
	for _, en := range es {
		switch {
		case en.Visitor == old.ID && en.Type == storage.EventVisitorErased:
			erased++
		case en.Visitor == old.ID:
			t.Errorf("event %s of the erased visitor is still waiting", en.Type)
		case en.Visitor != recent.ID:
			t.Errorf("event %s of an unknown visitor %s", en.Type, en.Visitor)
		}
	}
	if erased != 1 {
		t.Fatalf("%d visitor.erased events, want 1", erased)
	}
	lcAssertGone(t, e, old, lcErasedEvent)
}

// lcTestWebhooksEraseMerged: erasing a user also takes the waiting events,
// search words and everything else of a browser's visitor that was merged
// into it (identify).
func lcTestWebhooksEraseMerged(t *testing.T, e LifecycleEngine) {
	ctx := context.Background()
	lcRouteAll(e, 0, "demo/a")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	first := lcSession(t, e, t0)
	second := lcSession(t, e, t0.Add(time.Minute))
	email := "merged@example.org"
	at := storage.ProfileEdit{Email: &email, By: storage.ByIdentify, At: t0.Add(time.Hour)}
	if _, err := e.Identify(ctx, storage.IdentifyRequest{Site: "demo", VisitorID: first.VisitorID, UserID: "acct", Profile: at}); err != nil {
		t.Fatal(err)
	}
	res, err := e.Identify(ctx, storage.IdentifyRequest{Site: "demo", VisitorID: second.VisitorID, UserID: "acct", Profile: at})
	if err != nil || res.Merged != second.VisitorID {
		t.Fatalf("identify: %+v %v, want a merge", res, err)
	}
	if _, err := e.EraseVisitor(ctx, first.VisitorID); err != nil {
		t.Fatal(err)
	}
	es, err := e.Outbox(ctx, "demo/a", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range es {
		if en.Type != storage.EventVisitorErased || en.Visitor != first.VisitorID {
			t.Errorf("after the erase, %s of %s still waits", en.Type, en.Visitor)
		}
	}
	gone := lcSeeded{ID: first.VisitorID, Sessions: []string{first.ID, second.ID}}
	lcAssertGone(t, e, gone, lcErasedEvent)
	lcAssertGone(t, e, lcSeeded{ID: second.VisitorID}, nil)
	for k, v := range e.Dump(t) {
		if strings.Contains(k+v, email) {
			t.Errorf("%q (%.100q) still holds the user's email", k, v)
		}
	}
	lcAssertSound(t, e)
}
