package webhook_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/webhook"
	"github.com/parley-chat/parley/webhook/webhooktest"
)

var testSecret = webhooktest.Secret

// delivery is one accepted delivery, with the event's number in its
// session read from the test's own text ("n3").
type delivery struct {
	ID, Type, Session string
	Seq               int
}

// receiver wraps webhooktest.Receiver with the numbering of the test's
// conversations.
type receiver struct{ *webhooktest.Receiver }

func newReceiver(tb testing.TB) *receiver { return &receiver{webhooktest.New(tb)} }

func toDelivery(d *webhooktest.Delivery) delivery {
	out := delivery{ID: d.ID, Type: d.Type, Session: d.Data.Session}
	if d.Data.Message != nil {
		if n, ok := strings.CutPrefix(d.Data.Message.Text, "n"); ok {
			out.Seq = atoi(n)
		}
	}
	return out
}

func (r *receiver) setBehave(f func(n int, d delivery) int) {
	if f == nil {
		r.Behave(nil)
		return
	}
	r.Behave(func(n int, d *webhooktest.Delivery) int { return f(n, toDelivery(d)) })
}

func (r *receiver) deliveries() []delivery {
	var out []delivery
	for _, d := range r.Deliveries() {
		out = append(out, toDelivery(&d))
	}
	return out
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mustStore opens a store in a temp dir, closed when the test ends.
func mustStore(tb testing.TB) *storage.Store {
	tb.Helper()
	s, err := storage.Open(tb.TempDir(), storage.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// endpoint returns a valid endpoint of site demo named id at url.
func endpoint(id, url string, allowPrivate bool, events ...string) webhook.Endpoint {
	if len(events) == 0 {
		events = storage.EventTypes
	}
	return webhook.Endpoint{Site: "demo", ID: id, URL: url, Secret: testSecret, Events: events, AllowPrivate: allowPrivate}
}

// fastConfig is a dispatcher config with short waits for tests; its
// timeout stays long enough that a busy machine does not make a receiver
// that answers look like one that does not.
func fastConfig(s *storage.Store) webhook.Config {
	return webhook.Config{Store: s, Timeout: 5 * time.Second, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond}
}

// startDispatcher starts d with eps, closed when the test ends.
func startDispatcher(tb testing.TB, cfg webhook.Config, eps ...webhook.Endpoint) *webhook.Dispatcher {
	tb.Helper()
	for i := range eps {
		if errs := eps[i].Validate(); len(errs) > 0 {
			tb.Fatal(errs)
		}
	}
	d := webhook.New(cfg)
	d.SetEndpoints(eps)
	d.Start()
	tb.Cleanup(d.Close)
	return d
}

// conversation writes a session of site demo with n visitor messages
// "n1".."nN", through the store's write paths, and returns its ID.
func conversation(tb testing.TB, s *storage.Store, n int) string {
	tb.Helper()
	ctx := context.Background()
	now := time.Now()
	v := &storage.Visitor{ID: storage.NewID(now), Site: "demo", Channel: "web", CreatedAt: now}
	sess := &storage.Session{ID: storage.NewID(now), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: now}
	if err := s.StartSession(ctx, v, sess, nil); err != nil {
		tb.Fatal(err)
	}
	prev := sess
	for i := 1; i <= n; i++ {
		t := &storage.Turn{SessionID: sess.ID, Prev: prev, Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: time.Now(), Text: "n" + itoa(i)}}}
		next, _, _, err := s.RecordTurn(ctx, t)
		if err != nil {
			tb.Fatal(err)
		}
		prev = next
	}
	return sess.ID
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// checkComplete fails unless got holds, for every session in want, its
// session.started and then messages 1..want[session] in order, each
// event once (by webhook-id) whatever was delivered twice.
func checkComplete(tb testing.TB, got []delivery, want map[string]int) {
	tb.Helper()
	seen := map[string]bool{}
	next := map[string]int{}
	for _, d := range got {
		if seen[d.ID] {
			continue // at least once: a repeat is allowed, dedupe by ID
		}
		seen[d.ID] = true
		if _, ok := want[d.Session]; !ok {
			tb.Fatalf("delivery of an unknown session %s", d.Session)
		}
		switch d.Type {
		case storage.EventSessionStarted:
			if next[d.Session] != 0 {
				tb.Fatalf("session %s: session.started after message %d", d.Session, next[d.Session])
			}
		case storage.EventMessageCreated:
			if d.Seq != next[d.Session]+1 {
				tb.Fatalf("session %s: message %d after %d: order broken", d.Session, d.Seq, next[d.Session])
			}
			next[d.Session] = d.Seq
		}
	}
	for sid, n := range want {
		if next[sid] != n {
			tb.Fatalf("session %s: delivered up to message %d of %d", sid, next[sid], n)
		}
	}
}
