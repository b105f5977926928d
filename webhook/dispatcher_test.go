package webhook_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/webhook"
)

// TestDispatcher_FailsTimesOutRecovers: a receiver that first answers 500,
// then stops answering (each attempt times out), then recovers gets every
// event of every session, signed, in order per session, none lost.
func TestDispatcher_FailsTimesOutRecovers(t *testing.T) {
	s := mustStore(t)
	r := newReceiver(t)
	recovered := make(chan struct{})
	r.setBehave(func(n int, d delivery) int {
		switch {
		case n <= 5:
			return http.StatusInternalServerError
		case n <= 8:
			select { // hang past the dispatcher's timeout
			case <-recovered:
			case <-time.After(time.Second):
			}
			return http.StatusServiceUnavailable
		}
		return 0
	})
	cfg := fastConfig(s)
	cfg.Timeout = 300 * time.Millisecond // the stalled requests time out
	d := startDispatcher(t, cfg, endpoint("crm", r.URL, true))
	want := map[string]int{}
	for range 5 {
		want[conversation(t, s, 6)] = 6
	}
	waitFor(t, 20*time.Second, "every event", func() bool { return len(r.deliveries()) >= 5*7 })
	close(recovered)
	checkComplete(t, r.deliveries(), want)
	if n := r.BadSignatures(); n != 0 {
		t.Fatalf("%d requests with a bad signature", n)
	}
	waitDrained(t, d, "demo/crm")
	st, err := d.Endpoint(context.Background(), "demo/crm")
	if err != nil || st.Waiting != 0 || st.Paused || st.FailingSince != nil || st.LastSuccess == nil {
		t.Fatalf("status after recovery: %+v %v", st, err)
	}
	log, err := d.Deliveries(context.Background(), "demo/crm", 100)
	if err != nil {
		t.Fatal(err)
	}
	var failed, timedOut int
	for _, a := range log {
		if a.Outcome == storage.OutcomeFailed {
			failed++
			if strings.Contains(a.Error, "no answer within") {
				timedOut++
			}
		}
	}
	if failed < 8 || timedOut < 3 {
		t.Fatalf("log has %d failed attempts, %d timed out; want ≥ 8 and ≥ 3", failed, timedOut)
	}
}

// TestDispatcher_PausedAfterFailing: an endpoint that fails every attempt
// for PauseAfter is paused (the status says so, nothing more is tried);
// resumed, it gets what waited, in order.
func TestDispatcher_PausedAfterFailing(t *testing.T) {
	s := mustStore(t)
	r := newReceiver(t)
	r.setBehave(func(int, delivery) int { return http.StatusBadGateway })
	cfg := fastConfig(s)
	cfg.PauseAfter = 400 * time.Millisecond
	d := startDispatcher(t, cfg, endpoint("crm", r.URL, true))
	ctx := context.Background()
	sid := conversation(t, s, 3)
	waitFor(t, 10*time.Second, "the pause", func() bool {
		st, err := d.Endpoint(ctx, "demo/crm")
		return err == nil && st.Paused
	})
	st, _ := d.Endpoint(ctx, "demo/crm")
	if st.Waiting != 4 || st.PausedAt == nil || st.FailingSince == nil {
		t.Fatalf("paused status: %+v", st)
	}
	tried := r.Requests()
	time.Sleep(300 * time.Millisecond)
	if n := r.Requests(); n != tried {
		t.Fatalf("a paused endpoint was tried %d more times", n-tried)
	}

	r.setBehave(nil)
	if err := d.Resume(ctx, "demo/crm"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "delivery after resume", func() bool { return len(r.deliveries()) == 4 })
	checkComplete(t, r.deliveries(), map[string]int{sid: 3})
	waitDrained(t, d, "demo/crm")
	if st, _ := d.Endpoint(ctx, "demo/crm"); st.Paused {
		t.Fatalf("status after resume: %+v", st)
	}
}

// TestDispatcher_OneBadEvent: an event the endpoint refuses (4xx) holds up
// only its own session; after PauseAfter it is given up (logged) and the
// session's next events go; the endpoint is never paused.
func TestDispatcher_OneBadEvent(t *testing.T) {
	s := mustStore(t)
	r := newReceiver(t)
	cfg := fastConfig(s)
	cfg.PauseAfter = 500 * time.Millisecond
	d := webhook.New(cfg)
	d.SetEndpoints([]webhook.Endpoint{mustValid(t, endpoint("crm", r.URL, true))})
	ctx := context.Background()
	badSession := conversation(t, s, 3)
	r.setBehave(func(_ int, d delivery) int {
		if d.Session == badSession && d.Seq == 2 {
			return http.StatusUnprocessableEntity
		}
		return 0
	})
	defer d.Close()
	d.Start()
	// The endpoint takes other sessions' events after refusing this one.
	waitFor(t, 10*time.Second, "the first refusal", func() bool {
		log, _ := d.Deliveries(ctx, "demo/crm", 100)
		return len(log) > 0 && log[0].Status == http.StatusUnprocessableEntity
	})
	good := conversation(t, s, 3)
	waitFor(t, 10*time.Second, "the good session", func() bool {
		n := 0
		for _, dl := range r.deliveries() {
			if dl.Session == good {
				n++
			}
		}
		return n == 4
	})
	waitFor(t, 10*time.Second, "the bad session after giving up", func() bool { return len(r.deliveries()) == 4+3 })
	var seqs []int
	for _, dl := range r.deliveries() {
		if dl.Session == badSession {
			seqs = append(seqs, dl.Seq)
		}
	}
	if !slices.Equal(seqs, []int{0, 1, 3}) {
		t.Fatalf("the bad session's deliveries: %v, want session.started, 1, 3", seqs)
	}
	var log []storage.Attempt
	waitFor(t, 5*time.Second, "every attempt logged", func() bool {
		log, _ = d.Deliveries(ctx, "demo/crm", 100)
		return len(log) > 0 && log[0].Outcome == storage.OutcomeDelivered && len(log) >= 8
	})
	// The log is newest first: message 3 went out only after the give-up.
	gaveUp, third := -1, -1
	for i, a := range log {
		if a.Outcome == storage.OutcomeGaveUp && a.Status == http.StatusUnprocessableEntity {
			gaveUp = i
		}
		if a.Lane == badSession && a.Outcome == storage.OutcomeDelivered && strings.Contains(string(a.Body), `"text":"n3"`) {
			third = i
		}
	}
	if gaveUp < 0 || third < 0 || third > gaveUp {
		t.Fatalf("gave up at log entry %d, message 3 delivered at %d: %+v", gaveUp, third, log)
	}
	waitDrained(t, d, "demo/crm")
	if st, _ := d.Endpoint(ctx, "demo/crm"); st.Paused {
		t.Fatalf("status: %+v", st)
	}
	// Sending the given-up event again delivers it, same ID.
	r.setBehave(nil)
	var id, eventID string
	for _, a := range log {
		if a.Outcome == storage.OutcomeGaveUp {
			id, eventID = a.ID, a.EventID
		}
	}
	if _, err := d.Resend(ctx, "demo/crm", id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the resent event", func() bool {
		for _, dl := range r.deliveries() {
			if dl.ID == eventID {
				return true
			}
		}
		return false
	})
}

// TestDispatcher_Backlog: past MaxBacklog an endpoint's events are dropped
// and counted; the status shows both.
func TestDispatcher_Backlog(t *testing.T) {
	s := mustStore(t)
	cfg := fastConfig(s)
	cfg.MaxBacklog = 5
	d := webhook.New(cfg) // not started: nothing is delivered
	d.SetEndpoints([]webhook.Endpoint{mustValid(t, endpoint("crm", "https://crm.example/hook", false))})
	conversation(t, s, 9)
	st, err := d.Endpoint(context.Background(), "demo/crm")
	if err != nil || st.Waiting != 5 || st.Dropped != 5 {
		t.Fatalf("status: %+v %v", st, err)
	}
}

// TestDispatcher_Routes: only the events an endpoint asks for, only of
// its site, reach it.
func TestDispatcher_Routes(t *testing.T) {
	s := mustStore(t)
	r := newReceiver(t)
	other := endpoint("other", r.URL, true)
	other.Site = "elsewhere"
	startDispatcher(t, fastConfig(s), endpoint("starts", r.URL, true, storage.EventSessionStarted), other)
	conversation(t, s, 3)
	waitFor(t, 5*time.Second, "session.started", func() bool { return len(r.deliveries()) == 1 })
	time.Sleep(200 * time.Millisecond)
	if got := r.deliveries(); len(got) != 1 || got[0].Type != storage.EventSessionStarted {
		t.Fatalf("deliveries: %+v", got)
	}
}

// waitDrained waits until nothing waits for the endpoint: the last
// delivery is recorded, not only received.
func waitDrained(tb testing.TB, d *webhook.Dispatcher, name string) {
	tb.Helper()
	waitFor(tb, 5*time.Second, name+" drained", func() bool {
		st, err := d.Endpoint(context.Background(), name)
		return err == nil && st.Waiting == 0
	})
}

func mustValid(tb testing.TB, ep webhook.Endpoint) webhook.Endpoint {
	tb.Helper()
	if errs := ep.Validate(); len(errs) > 0 {
		tb.Fatal(errs)
	}
	return ep
}

// TestDispatcher_OrderInterleaved: sessions whose events interleave in the
// outbox, sent several at once to a receiver answering at random speeds,
// still arrive each in its own order.
func TestDispatcher_OrderInterleaved(t *testing.T) {
	s := mustStore(t)
	r := newReceiver(t)
	r.setBehave(func(n int, _ delivery) int {
		time.Sleep(time.Duration(n*7919%5) * time.Millisecond)
		return 0
	})
	cfg := fastConfig(s)
	cfg.Concurrency = 3
	d := webhook.New(cfg)
	d.SetEndpoints([]webhook.Endpoint{mustValid(t, endpoint("crm", r.URL, true))})
	want := interleaved(t, s, 6, 8)
	d.Start()
	defer d.Close()
	waitFor(t, 20*time.Second, "every event", func() bool { return len(r.deliveries()) >= 6*9 })
	checkComplete(t, r.deliveries(), want)
}

// interleaved writes k sessions of n visitor messages "n1".."nN": each
// session's start and first message together, then the others taking
// turns between the sessions. It returns what checkComplete wants.
func interleaved(tb testing.TB, s *storage.Store, k, n int) map[string]int {
	tb.Helper()
	ctx := context.Background()
	prev := make([]*storage.Session, k)
	want := map[string]int{}
	say := func(i, m int) {
		t := &storage.Turn{SessionID: prev[i].ID, Prev: prev[i], Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: time.Now(), Text: "n" + itoa(m)}}}
		next, _, _, err := s.RecordTurn(ctx, t)
		if err != nil {
			tb.Fatal(err)
		}
		prev[i] = next
	}
	for i := range prev {
		now := time.Now()
		v := &storage.Visitor{ID: storage.NewID(now), Site: "demo", Channel: "web", CreatedAt: now}
		prev[i] = &storage.Session{ID: storage.NewID(now), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: now}
		if err := s.StartSession(ctx, v, prev[i], nil); err != nil {
			tb.Fatal(err)
		}
		want[prev[i].ID] = n
		say(i, 1)
	}
	for m := 2; m <= n; m++ {
		for i := range prev {
			say(i, m)
		}
	}
	return want
}
