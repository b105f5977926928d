package server_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
	"github.com/parley-chat/parley/webhook/webhooktest"
)

// TestPostgres_WebhooksOneNodeAtATime: two nodes on one PostgreSQL store
// deliver one endpoint: the node holding its job sends everything, also
// the events of conversations on the other node, each once (never two
// requests of one event at the same moment, no event twice), none lost;
// when that node stops in the middle of delivering, the other takes the
// endpoint over and delivers the rest and what follows, again each once.
func TestPostgres_WebhooksOneNodeAtATime(t *testing.T) {
	ctx := context.Background()
	url := postgrestest.URL(t)
	r := webhooktest.New(t)
	var mu sync.Mutex
	inFlight, overlaps := map[string]int{}, 0
	var slow atomic.Int64
	slow.Store(int64(2 * time.Millisecond))
	r.Behave(func(_ int, d *webhooktest.Delivery) int {
		mu.Lock()
		if inFlight[d.ID]++; inFlight[d.ID] > 1 {
			overlaps++
		}
		mu.Unlock()
		time.Sleep(time.Duration(slow.Load())) // a request takes a moment: room to overlap
		mu.Lock()
		inFlight[d.ID]--
		mu.Unlock()
		return 0
	})
	sc, ps := server.LoadConfig(webhookConfig(t, hook("crm", r.URL, true)))
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Store: url, Sites: sc.Sites, Webhooks: sc.Webhooks, Jobs: server.JobsConfig{Lease: testLease}}
	cfg.WebhookLimits.BackoffBase = 50 * time.Millisecond
	const job = "webhook:demo/crm"
	a := serveNode(t, cfg)
	waitUntil(t, 5*time.Second, "node a delivering", func() bool { return slices.Contains(a.s.Jobs(), job) })
	b := serveNode(t, cfg)

	var clients []*storyClient
	chat := func(bases ...string) {
		for _, base := range bases {
			c := newStoryClient(base, fmt.Sprint("v", len(clients)))
			c.story(t, ctx)
			if !c.ended {
				t.Fatalf("visitor %s: the story did not end", c.name)
			}
			c.close()
			clients = append(clients, c)
		}
	}
	// check waits for the outbox to drain and compares what arrived with
	// what the conversations stored.
	check := func(st server.Store) {
		t.Helper()
		waitUntil(t, 20*time.Second, "the outbox drained", func() bool { return outboxRows(t, url) == 0 })
		got := r.Deliveries()
		if u := r.Unique(); len(got) != len(u) {
			t.Errorf("%d deliveries of %d events: some went twice", len(got), len(u))
		}
		for _, c := range clients {
			var started, ended int
			var msgIDs []string
			for _, d := range r.Unique() {
				if d.Data.Session != c.session {
					continue
				}
				switch d.Type {
				case storage.EventSessionStarted:
					started++
				case storage.EventSessionEnded:
					ended++
				case storage.EventMessageCreated:
					msgIDs = append(msgIDs, d.Data.Message.ID)
				}
			}
			msgs, err := st.Messages(ctx, c.session, 0)
			if err != nil {
				t.Fatal(err)
			}
			var stored []string
			for _, m := range msgs {
				stored = append(stored, m.ID)
			}
			if started != 1 || ended != 1 || !slices.Equal(msgIDs, stored) {
				t.Errorf("visitor %s: %d session.started, %d session.ended, message.created %v; the session's messages %v",
					c.name, started, ended, msgIDs, stored)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if overlaps != 0 {
			t.Errorf("%d requests of an event sent while another of it was in flight", overlaps)
		}
	}

	chat(a.base, b.base, b.base, a.base)
	check(b.s.Store)
	if slices.Contains(b.s.Jobs(), job) {
		t.Errorf("node b delivers too: %v", b.s.Jobs())
	}
	n := len(r.Deliveries())

	// Node a stops while it delivers: conversations on b wrote events a
	// is sending, slowly.
	slow.Store(int64(20 * time.Millisecond))
	chat(b.base, b.base)
	waitUntil(t, 5*time.Second, "node a delivering b's new events", func() bool { return len(r.Deliveries()) > n })
	t.Logf("node a stops with %d events waiting", outboxRows(t, url))
	a.stop(t)
	waitUntil(t, testLease, "node b taking the endpoint over", func() bool { return slices.Contains(b.s.Jobs(), job) })
	chat(b.base)
	check(b.s.Store)
	if len(r.Deliveries()) <= n {
		t.Errorf("nothing delivered after node a stopped")
	}
	if r.BadSignatures() != 0 {
		t.Errorf("%d bad signatures", r.BadSignatures())
	}
}

// outboxRows counts the events waiting in the store's webhook outbox.
func outboxRows(tb testing.TB, url string) int {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM webhook_outbox`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}
