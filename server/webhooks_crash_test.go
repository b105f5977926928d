//go:build unix

package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/webhook/webhooktest"
)

// Receiver moods for TestCrash_Webhooks.
const (
	moodAccept = iota // 204 to everything
	moodFlaky         // 503 to a third of the requests
	moodStall         // hold every request until the mood changes, then 503
)

// TestCrash_Webhooks runs the real binary with a webhook endpoint while
// visitors chat, and kills it with SIGKILL: while the receiver fails now
// and then, and while it stalls every delivery, so events are stored but
// not delivered (one in flight) when Parley dies. After the last restart
// the receiver takes everything: every event of every stored message and
// session must arrive, signed, in order per session, none lost.
func TestCrash_Webhooks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	t.Logf("seed %d", seed)
	var mood atomic.Int32
	moodChanged := make(chan struct{}, 1)
	r := webhooktest.New(t)
	var flaky atomic.Uint64
	flaky.Store(seed)
	r.Behave(func(n int, d *webhooktest.Delivery) int {
		switch mood.Load() {
		case moodFlaky:
			if (uint64(n)*2654435761+flaky.Load())%3 == 0 {
				return http.StatusServiceUnavailable
			}
		case moodStall:
			for mood.Load() == moodStall {
				select {
				case <-moodChanged:
				case <-time.After(20 * time.Millisecond):
				}
			}
			return http.StatusServiceUnavailable
		}
		return 0
	})
	setMood := func(m int32) {
		mood.Store(m)
		select {
		case moodChanged <- struct{}{}:
		default:
		}
	}

	bin := buildParley(t)
	data, addr := t.TempDir(), freeAddr(t)
	base := "http://" + addr
	env := []string{"PARLEY_ADMIN_TOKEN=" + adminToken}
	args := []string{"serve", "--addr", addr, "--data", data, "--config", webhookConfig(t, hook("crm", r.URL, true)),
		"--msg-rate", "-1", "--max-conns-per-ip", "-1", "--webhook-retry", "50ms"}
	p := startChild(t, bin, env, nil, args...)
	waitHealthy(t, addr)
	var dead atomic.Bool
	stopChat := chatters(base, 4, &dead)

	waiting := func() int {
		var list struct{ Items []struct{ Waiting int } }
		admintest.Get(t, base, adminToken, "/admin/api/webhooks", &list)
		return list.Items[0].Waiting
	}
	// Rounds with a flaky receiver: kills at random moments.
	setMood(moodFlaky)
	for range 2 {
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		t.Logf("kill -9 at %s", time.Now().Format("15:04:05.000000"))
		p.kill9(t)
		p = startChild(t, bin, env, nil, args...)
		waitHealthy(t, addr)
	}
	// A stalled receiver: events pile up in the outbox, one delivery in
	// flight, and Parley dies.
	setMood(moodStall)
	time.Sleep(800 * time.Millisecond)
	if n := waiting(); n < 5 {
		t.Fatalf("only %d events waiting while the receiver stalls", n)
	}
	before := len(r.Unique())
	t.Logf("kill -9 at %s, the receiver stalling", time.Now().Format("15:04:05.000000"))
	p.kill9(t)
	clients := stopChat()
	setMood(moodAccept)
	p = startChild(t, bin, env, nil, args...)
	waitHealthy(t, addr)
	waitUntil(t, 60*time.Second, "the outbox to drain", func() bool { return waiting() == 0 })
	p.kill9(t)
	t.Logf("%d events delivered before the stall's kill, %d after; %d requests in all", before, len(r.Unique())-before, r.Requests())

	st, err := storage.Open(data, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkAcked(t, st, storage.NewFiles(st), clients)
	checkDelivered(t, st, r)
	if n := r.BadSignatures(); n != 0 {
		t.Errorf("%d deliveries with a bad signature", n)
	}
}

// checkDelivered checks the receiver got, for every session in the store,
// session.started first and then message.created for each of its messages
// in the session's order, each event once or more (repeats come only
// after a crash, and only of an event not yet past).
func checkDelivered(tb testing.TB, st *storage.Store, r *webhooktest.Receiver) {
	tb.Helper()
	ctx := context.Background()
	got := map[string][]string{} // session → its events' message IDs, "start" for session.started
	for _, d := range r.Unique() {
		switch d.Type {
		case storage.EventSessionStarted:
			got[d.Data.Session] = append(got[d.Data.Session], "start")
		case storage.EventMessageCreated:
			got[d.Data.Session] = append(got[d.Data.Session], d.Data.Message.ID)
		}
	}
	sessions, messages := 0, 0
	for cursor := ""; ; {
		page, err := st.Sessions(ctx, storage.SessionQuery{Limit: storage.MaxLimit, Cursor: cursor})
		if err != nil {
			tb.Fatal(err)
		}
		for _, row := range page.Items {
			sessions++
			msgs, err := st.Messages(ctx, row.Session.ID, 0)
			if err != nil {
				tb.Fatal(err)
			}
			want := []string{"start"}
			for _, m := range msgs {
				want = append(want, m.ID)
			}
			messages += len(msgs)
			if !slices.Equal(got[row.Session.ID], want) {
				tb.Errorf("session %s: delivered %v, want %v; every accepted request of it, repeats included:\n%s",
					row.Session.ID, got[row.Session.ID], want, deliveriesOf(r, row.Session.ID))
			}
			delete(got, row.Session.ID)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	for sid := range got {
		tb.Errorf("events of session %s, which the store does not have", sid)
	}
	if sessions < 4 || messages < 40 {
		tb.Errorf("only %d sessions and %d messages: the test did not exercise much", sessions, messages)
	}
	tb.Logf("%d sessions, %d messages: every one delivered in order", sessions, messages)
}

// deliveriesOf lists the session's accepted requests in the order they
// came, repeats included, with their numbers and times: what tells a
// delivery from a killed process from one of its successor.
func deliveriesOf(r *webhooktest.Receiver, session string) string {
	var b strings.Builder
	for _, d := range r.Deliveries() {
		if d.Data.Session != session {
			continue
		}
		what := d.Type
		if d.Data.Message != nil {
			what += " " + d.Data.Message.ID
		}
		fmt.Fprintf(&b, "  #%d %s %s (%s)\n", d.Request, d.At.Format("15:04:05.000000"), what, d.ID)
	}
	return b.String()
}
