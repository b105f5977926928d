package postgres_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
	"github.com/parley-chat/parley/webhook"
	"github.com/parley-chat/parley/webhook/webhooktest"
)

// TestWebhooks_Dispatcher: the webhook dispatcher delivers from a
// PostgreSQL store to a real receiver: every event of a conversation,
// signed, in order, through failures; the log and the endpoint's state
// say what happened; a logged attempt sent again arrives again with the
// same webhook-id.
func TestWebhooks_Dispatcher(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, postgrestest.URL(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := webhooktest.New(t)
	r.Behave(func(n int, _ *webhooktest.Delivery) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return 0
	})
	d := webhook.New(webhook.Config{Store: st, Timeout: 5 * time.Second, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	ep := webhook.Endpoint{Site: "demo", ID: "crm", URL: r.URL, Secret: webhooktest.Secret, Events: storage.EventTypes, AllowPrivate: true}
	if errs := ep.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	d.SetEndpoints([]webhook.Endpoint{ep})
	d.Start()
	defer d.Close()

	now := time.Now().UTC().Truncate(time.Second)
	v := &storage.Visitor{ID: storage.NewID(now), Site: "demo", Channel: "web", CreatedAt: now}
	sess := &storage.Session{ID: storage.NewID(now), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: now}
	if err := st.StartSession(ctx, v, sess, nil); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		at := now.Add(time.Duration(i) * time.Second)
		if _, _, _, err := st.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, ClientID: fmt.Sprint("c", i),
			Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: at, Text: fmt.Sprint("n", i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "every event delivered", func() bool { return len(r.Unique()) == 6 })
	got := r.Unique()
	if got[0].Type != storage.EventSessionStarted {
		t.Errorf("first delivery %s, want session.started", got[0].Type)
	}
	for i, dl := range got[1:] {
		if dl.Type != storage.EventMessageCreated || dl.Data.Message == nil || dl.Data.Message.Text != fmt.Sprint("n", i+1) {
			t.Fatalf("delivery %d: %+v, want message n%d", i+1, dl, i+1)
		}
	}
	if n := r.BadSignatures(); n != 0 {
		t.Errorf("%d deliveries with a bad signature", n)
	}
	waitUntil(t, "the outbox drained", func() bool { return st.OutboxStats("demo/crm").Waiting == 0 })
	log, err := st.DeliveryLog(ctx, "demo/crm", 100)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, a := range log {
		if a.Outcome == storage.OutcomeFailed && a.Status == http.StatusInternalServerError {
			failed++
		}
	}
	if len(log) != 6+3 || failed != 3 {
		t.Errorf("log: %d attempts, %d failed with 500; want 9 and 3", len(log), failed)
	}
	state, err := st.EndpointState(ctx, "demo/crm")
	if err != nil || state.LastSuccessAt.IsZero() || !state.FailingSince.IsZero() {
		t.Errorf("endpoint state %+v, %v; want a success and not failing", state, err)
	}

	again, err := d.Resend(ctx, "demo/crm", log[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the resent event delivered", func() bool { return len(r.Deliveries()) == 7 })
	if last := r.Deliveries()[6]; last.ID != again.ID || last.ID != log[0].EventID {
		t.Errorf("resent delivery %s, want webhook-id %s", last.ID, log[0].EventID)
	}
}

// waitUntil polls cond for up to 10 s.
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	tb.Fatalf("waited 10 s for %s", what)
}
