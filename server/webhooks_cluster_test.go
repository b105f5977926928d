package server_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
	"github.com/parley-chat/parley/webhook/webhooktest"
)

// hookJob is the delivery job of the endpoint the tests configure.
const hookJob = "webhook:demo/crm"

// TestPostgres_WebhooksOneNodeAtATime: two nodes on one PostgreSQL store
// deliver one endpoint: the node holding its job sends everything, also
// the events of conversations on the other node, each once (never two
// requests of one event at the same moment, no event twice), none lost;
// when that node stops in the middle of delivering, the other takes the
// endpoint over and delivers the rest and what follows, again each once.
func TestPostgres_WebhooksOneNodeAtATime(t *testing.T) {
	url := postgrestest.URL(t)
	h := newHookCheck(t, url)
	cfg := h.config()
	a := serveNode(t, cfg)
	waitUntil(t, 5*time.Second, "node a delivering", func() bool { return slices.Contains(a.s.Jobs(), hookJob) })
	b := serveNode(t, cfg)

	h.chat(a.base, b.base, b.base, a.base)
	h.check(b.s.Store, 0)
	if slices.Contains(b.s.Jobs(), hookJob) {
		t.Errorf("node b delivers too: %v", b.s.Jobs())
	}
	n := len(h.r.Deliveries())

	// Node a stops while it delivers: conversations on b wrote events a
	// is sending, slowly.
	h.slow.Store(int64(20 * time.Millisecond))
	h.chat(b.base, b.base)
	waitUntil(t, 5*time.Second, "node a delivering b's new events", func() bool { return len(h.r.Deliveries()) > n })
	t.Logf("node a stops with %d events waiting", outboxRows(t, url))
	a.stop(t)
	waitUntil(t, testLease, "node b taking the endpoint over", func() bool { return slices.Contains(b.s.Jobs(), hookJob) })
	h.chat(b.base)
	h.check(b.s.Store, 0)
}

// TestPostgres_WebhooksKillNine: the node delivering an endpoint is the
// real binary, killed with SIGKILL in the middle of delivering: the other
// node takes the endpoint over once the dead node's lease expires and
// delivers every event, none lost; only an event whose request was on its
// way at the kill may arrive twice (at least once), never two requests of
// one event at the same moment.
func TestPostgres_WebhooksKillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildParley(t)
	url, addr := postgrestest.URL(t), freeAddr(t)
	h := newHookCheck(t, url)
	p := startChild(t, bin, []string{"PARLEY_ADMIN_TOKEN=" + adminToken, "PARLEY_JOB_LEASE=" + testLease.String()}, nil,
		"serve", "--addr", addr, "--data", t.TempDir(), "--store", url, "--config", h.path, "--webhook-retry", "50ms")
	waitHealthy(t, addr)
	waitUntil(t, 5*time.Second, "the child delivering", func() bool { return holders(t, url)[hookJob] != "" })
	b := serveNode(t, h.config())

	h.chat("http://"+addr, b.base)
	h.check(b.s.Store, 0)
	n := len(h.r.Deliveries())
	h.slow.Store(int64(20 * time.Millisecond))
	h.chat(b.base, b.base)
	waitUntil(t, 5*time.Second, "the child delivering b's new events", func() bool { return len(h.r.Deliveries()) > n })
	t.Logf("the child is killed with %d events waiting", outboxRows(t, url))
	p.kill9(t)
	waitUntil(t, 3*testLease, "node b taking the endpoint over", func() bool { return slices.Contains(b.s.Jobs(), hookJob) })
	h.chat(b.base)
	h.check(b.s.Store, 4) // at most the attempts in flight at the kill: --webhook-concurrency
}

// TestPostgres_WebhooksResumeOnOtherNode: the delivering node pauses an
// endpoint that failed every attempt; the admin API of the other node
// says it is paused and resumes it there; the delivering node sees the
// resume and sends what waited, each once.
func TestPostgres_WebhooksResumeOnOtherNode(t *testing.T) {
	url := postgrestest.URL(t)
	h := newHookCheck(t, url)
	h.answer.Store(http.StatusBadGateway)
	cfg := h.config()
	cfg.WebhookLimits.PauseAfter = 600 * time.Millisecond
	a := serveNode(t, cfg)
	waitUntil(t, 5*time.Second, "node a delivering", func() bool { return slices.Contains(a.s.Jobs(), hookJob) })
	b := serveNode(t, cfg)

	h.chat(b.base)
	type status struct {
		Paused  bool
		Waiting int
	}
	var st status
	waitUntil(t, 10*time.Second, "node b seeing the endpoint paused", func() bool {
		admintest.Get(t, b.base, adminToken, "/admin/api/webhooks/demo/crm", &st)
		return st.Paused
	})
	h.answer.Store(0)
	if resp, body := adminDo(t, http.MethodPost, b.base+"/admin/api/webhooks/demo/crm/resume"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("resume on node b: %d %s", resp.StatusCode, body)
	}
	h.check(b.s.Store, 0)
	admintest.Get(t, a.base, adminToken, "/admin/api/webhooks/demo/crm", &st)
	if st.Paused || st.Waiting != 0 {
		t.Errorf("node a after the resume: %+v, want not paused, nothing waiting", st)
	}
	if slices.Contains(b.s.Jobs(), hookJob) {
		t.Errorf("node b delivered: %v", b.s.Jobs())
	}
}

// hookCheck is a receiver of the endpoint "demo/crm" that notes requests
// of one event overlapping, and the conversations whose events it must
// get.
type hookCheck struct {
	t    *testing.T
	url  string
	r    *webhooktest.Receiver
	path string // the config file naming the endpoint
	slow atomic.Int64
	// answer is the status the receiver answers (0: 204).
	answer atomic.Int32

	mu       sync.Mutex
	inFlight map[string]int
	overlaps int
	clients  []*storyClient
}

func newHookCheck(t *testing.T, url string) *hookCheck {
	h := &hookCheck{t: t, url: url, r: webhooktest.New(t), inFlight: map[string]int{}}
	h.slow.Store(int64(2 * time.Millisecond))
	h.r.Behave(func(_ int, d *webhooktest.Delivery) int {
		h.mu.Lock()
		if h.inFlight[d.ID]++; h.inFlight[d.ID] > 1 {
			h.overlaps++
		}
		h.mu.Unlock()
		time.Sleep(time.Duration(h.slow.Load())) // a request takes a moment: room to overlap
		h.mu.Lock()
		h.inFlight[d.ID]--
		h.mu.Unlock()
		return int(h.answer.Load())
	})
	h.path = webhookConfig(t, hook("crm", h.r.URL, true))
	return h
}

// config is a node's config: the store, the endpoint, short leases.
func (h *hookCheck) config() server.Config {
	sc, ps := server.LoadConfig(h.path)
	if err := ps.Err(); err != nil {
		h.t.Fatal(err)
	}
	cfg := server.Config{Store: h.url, Sites: sc.Sites, Webhooks: sc.Webhooks, Jobs: server.JobsConfig{Lease: testLease}}
	cfg.WebhookLimits.BackoffBase = 50 * time.Millisecond
	return cfg
}

// chat runs a visitor through the demo story on each node of bases.
func (h *hookCheck) chat(bases ...string) {
	h.t.Helper()
	for _, base := range bases {
		c := newStoryClient(base, fmt.Sprint("v", len(h.clients)))
		c.story(h.t, context.Background())
		if !c.ended {
			h.t.Fatalf("visitor %s: the story did not end", c.name)
		}
		c.close()
		h.clients = append(h.clients, c)
	}
}

// check waits for the outbox to drain and compares what arrived with what
// the conversations stored: every event, at most twice events in all
// arriving twice.
func (h *hookCheck) check(st server.Store, twice int) {
	t := h.t
	t.Helper()
	waitUntil(t, 20*time.Second, "the outbox drained", func() bool { return outboxRows(t, h.url) == 0 })
	got, unique := h.r.Deliveries(), h.r.Unique()
	if len(got)-len(unique) > twice {
		t.Errorf("%d deliveries of %d events: more than %d went twice", len(got), len(unique), twice)
	}
	if len(got) != len(unique) {
		t.Logf("%d deliveries of %d events", len(got), len(unique))
	}
	for _, c := range h.clients {
		var started, ended int
		var msgIDs []string
		for _, d := range unique {
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
		msgs, err := st.Messages(context.Background(), c.session, 0)
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
	if n := h.r.BadSignatures(); n != 0 {
		t.Errorf("%d bad signatures", n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.overlaps != 0 {
		t.Errorf("%d requests of an event sent while another of it was in flight", h.overlaps)
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
