package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/natsbus"
	"github.com/parley-chat/parley/server/natsbus/natstest"
	"github.com/parley-chat/parley/widget"
)

func connect(t *testing.T, url, name string) *natsbus.Bus {
	t.Helper()
	b, err := natsbus.Connect(url, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// TestBus: a subject's messages arrive in order and only at the other
// node (a node does not hear itself); a request reaches the node serving
// its subject, and one nobody serves fails at once with widget.ErrNoNode.
func TestBus(t *testing.T) {
	srv := natstest.Start(t)
	a, b := connect(t, srv.URL(), "a"), connect(t, srv.URL(), "b")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	got := make(chan string, 100)
	for _, bus := range []*natsbus.Bus{a, b} {
		stop, err := bus.Subscribe("parley.session.s1", func(data []byte) { got <- string(data) })
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		if err := bus.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	const n = 50
	for i := range n {
		if err := a.Publish("parley.session.s1", fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		select {
		case m := <-got:
			if m != fmt.Sprint(i) {
				t.Fatalf("message %d: %q, want the messages in order", i, m)
			}
		case <-ctx.Done():
			t.Fatalf("message %d never came", i)
		}
	}
	select {
	case m := <-got:
		t.Fatalf("an extra message %q: the publisher heard itself", m)
	case <-time.After(100 * time.Millisecond):
	}

	stop, err := b.Serve("parley.node.b", func(data []byte) []byte { return append([]byte("b: "), data...) })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	b.Flush(ctx)
	if out, err := a.Request(ctx, "parley.node.b", []byte("hi")); err != nil || string(out) != "b: hi" {
		t.Errorf("request: %q, %v", out, err)
	}
	start := time.Now()
	if _, err := a.Request(ctx, "parley.node.gone", []byte("hi")); !errors.Is(err, widget.ErrNoNode) {
		t.Errorf("request nobody serves: %v, want widget.ErrNoNode", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the request nobody serves took %v to fail, want at once", d)
	}
	if a.Ping() != nil {
		t.Errorf("ping while connected: %v", a.Ping())
	}
	srv.Stop()
	if a.Ping() == nil {
		time.Sleep(100 * time.Millisecond)
		if a.Ping() == nil {
			t.Errorf("ping with NATS stopped: nil, want an error")
		}
	}
}
