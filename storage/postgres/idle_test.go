package postgres_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// oneTimeout is a Liveness with no sockets and one session timeout.
type oneTimeout time.Duration

func (oneTimeout) Active(string) bool                    { return false }
func (oneTimeout) ActiveSessions() []string              { return nil }
func (l oneTimeout) SessionTimeout(string) time.Duration { return time.Duration(l) }
func (l oneTimeout) MaxSessionTimeout() time.Duration    { return time.Duration(l) }

// TestSweepIdle_TwoNodes: two nodes sweeping the same database at the
// same time write each timed-out session's session.ended once.
func TestSweepIdle_TwoNodes(t *testing.T) {
	ctx := context.Background()
	url := postgrestest.URL(t)
	route := storage.OutboxConfig{Route: func(site, typ string) []string { return []string{"demo/a"} }}
	var nodes []*postgres.Store
	for range 2 {
		st, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		st.SetOutbox(route)
		nodes = append(nodes, st)
	}
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	live := oneTimeout(30 * time.Minute)
	if _, err := nodes[0].SweepIdle(ctx, t0, live, 0); err != nil {
		t.Fatal(err)
	}
	const sessions = 40
	for i := range sessions {
		at := t0.Add(time.Duration(i) * time.Second)
		v := &storage.Visitor{ID: storage.NewID(at), Site: "demo", Channel: "web", CreatedAt: at}
		sess := &storage.Session{ID: storage.NewID(at), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: at}
		if err := nodes[i%2].StartSession(ctx, v, sess, nil); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	ended := make([]int, len(nodes))
	for i, st := range nodes {
		wg.Go(func() {
			for {
				res, err := st.SweepIdle(ctx, t0.Add(time.Hour), live, 7)
				if err != nil {
					t.Error(err)
					return
				}
				ended[i] += res.Ended
				if !res.More {
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("the nodes ended %d and %d sessions", ended[0], ended[1])
	if ended[0]+ended[1] != sessions {
		t.Errorf("the nodes ended %d and %d sessions, want %d in all", ended[0], ended[1], sessions)
	}
	es, err := nodes[0].Outbox(ctx, "demo/a", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, e := range es {
		if e.Type != storage.EventSessionEnded {
			continue
		}
		var b struct {
			Data struct {
				Session string `json:"session"`
			} `json:"data"`
		}
		if err := json.Unmarshal(e.Body, &b); err != nil {
			t.Fatal(err)
		}
		per[b.Data.Session]++
	}
	if len(per) != sessions {
		t.Errorf("%d sessions have a session.ended, want %d", len(per), sessions)
	}
	for sid, n := range per {
		if n != 1 {
			t.Errorf("session %s: %d session.ended events, want 1", sid, n)
		}
	}
}
