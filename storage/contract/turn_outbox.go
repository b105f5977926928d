package contract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// OutboxWriteEngine is what TestOutboxWrite needs of an engine: the
// webhook outbox's write side, and the write paths that fill it.
type OutboxWriteEngine interface {
	TurnEngine
	SetOutbox(c storage.OutboxConfig)
	OutboxStats(endpoint string) storage.OutboxStats
}

// OutboxReader returns the events waiting for an endpoint, oldest first
// (the engine's Outbox).
type OutboxReader func(ctx context.Context, endpoint string) ([]storage.OutboxEntry, error)

// routeDemo sends every event of site demo to the endpoints eps and
// records the notifications.
func routeDemo(s OutboxWriteEngine, max int, eps ...string) *sync.Map {
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

// waiting returns the event types waiting for ep, in order, and their
// decoded bodies; it checks each entry's body and webhook-id.
func waiting(tb testing.TB, read OutboxReader, ep string) ([]string, []map[string]any) {
	tb.Helper()
	es, err := read(context.Background(), ep)
	if err != nil {
		tb.Fatal(err)
	}
	var types []string
	var bodies []map[string]any
	for i, e := range es {
		var b map[string]any
		if err := json.Unmarshal(e.Body, &b); err != nil {
			tb.Fatalf("body %q: %v", e.Body, err)
		}
		if b["type"] != e.Type || !strings.HasPrefix(e.ID, "msg_") || e.Endpoint != ep || e.Key == "" || e.Lane == "" {
			tb.Fatalf("entry %+v: body type %v", e, b["type"])
		}
		if i > 0 && e.Key == es[i-1].Key {
			tb.Fatalf("two entries with key %s", e.Key)
		}
		types = append(types, e.Type)
		bodies = append(bodies, b)
	}
	return types, bodies
}

// TestOutboxWrite: every write path puts its events in the outbox in the
// same write, in the order they happened, once per endpoint that wants
// them; past MaxBacklog they are dropped and counted; a failed write
// writes and takes nothing.
func TestOutboxWrite(t *testing.T, open func(testing.TB) (OutboxWriteEngine, OutboxReader)) {
	t.Run("WrittenWithTheChange", func(t *testing.T) { testOutboxWritten(t, open) })
	t.Run("Backlog", func(t *testing.T) { testOutboxBacklog(t, open) })
	t.Run("NotRouted", func(t *testing.T) { testOutboxNotRouted(t, open) })
}

func testOutboxWritten(t *testing.T, open func(testing.TB) (OutboxWriteEngine, OutboxReader)) {
	s, read := open(t)
	ctx := context.Background()
	notified := routeDemo(s, 0, "demo/a", "demo/b")
	t0 := turnDay
	v := &storage.Visitor{ID: storage.NewID(t0), Site: "demo", Channel: "web", CreatedAt: t0}
	sess := &storage.Session{ID: storage.NewID(t0), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: t0}
	opening := &storage.Turn{Messages: []storage.Message{{From: storage.FromBot, Kind: storage.KindBot, At: t0, Text: "Hi!"}}}
	if err := s.StartSession(ctx, v, sess, opening); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Second)
	turn := &storage.Turn{SessionID: sess.ID, ClientID: "c1", Prev: sess,
		Messages: []storage.Message{
			{From: storage.FromVisitor, Kind: storage.KindInput, At: t1, Text: "a@b.org", Value: "a@b.org"},
			{From: storage.FromVisitor, Kind: storage.KindFile, At: t1, File: &storage.FileRef{ID: storage.NewID(t1), Name: "x.pdf", Size: 3, Type: "application/pdf", At: t1}},
		},
		Inputs: []storage.Input{{Block: "email", Variable: "email", Kind: "email", Value: "a@b.org", At: t1}},
		State:  &storage.State{Ended: true, Current: "bye", Goals: []string{"lead"}},
	}
	turn.AddEvent(storage.EventHandoverRequested, map[string]any{"reason": "asked"})
	if _, _, _, err := s.RecordTurn(ctx, turn); err != nil {
		t.Fatal(err)
	}
	// A repeated client ID writes nothing, events neither.
	if _, _, dup, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, ClientID: "c1", Messages: []storage.Message{visitorText(t1, "again", "c1")}}); err != nil || !dup {
		t.Fatalf("dup: %v %v", dup, err)
	}
	// A failed turn neither.
	if _, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: "01J0000000000000000000000X", Messages: []storage.Message{visitorText(t1, "lost", "")}}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("turn of an unknown session: %v", err)
	}
	want := []string{"session.started", "message.created", "message.created", "message.created", "file.uploaded", "input.submitted", "handover.requested", "session.ended"}
	for _, ep := range []string{"demo/a", "demo/b"} {
		types, bodies := waiting(t, read, ep)
		if strings.Join(types, " ") != strings.Join(want, " ") {
			t.Fatalf("%s: %v, want %v", ep, types, want)
		}
		for _, b := range bodies {
			d := b["data"].(map[string]any)
			if d["site"] != "demo" || d["visitor"] != v.ID || d["session"] != sess.ID {
				t.Fatalf("%s: data %v", ep, d)
			}
		}
		if d := bodies[6]["data"].(map[string]any); d["reason"] != "asked" {
			t.Fatalf("AddEvent data: %v", d)
		}
		if m := bodies[2]["data"].(map[string]any)["message"].(map[string]any); m["text"] != "a@b.org" || m["id"] != turn.Messages[0].ID {
			t.Fatalf("message.created data: %v", m)
		}
		if st := s.OutboxStats(ep); st.Waiting != len(want) || st.Dropped != 0 {
			t.Fatalf("%s stats %+v", ep, st)
		}
		if _, ok := notified.Load(ep); !ok {
			t.Fatalf("%s not notified", ep)
		}
	}
}

func testOutboxBacklog(t *testing.T, open func(testing.TB) (OutboxWriteEngine, OutboxReader)) {
	s, read := open(t)
	ctx := context.Background()
	routeDemo(s, 3, "demo/a")
	sess := turnSession(t, s, storage.NewID(turnDay), turnDay) // session.started: 1
	for i := range 4 {
		at := turnDay.Add(time.Duration(i+1) * time.Second)
		if _, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, Messages: []storage.Message{visitorText(at, fmt.Sprint("hi ", i), "")}}); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.OutboxStats("demo/a"); st.Waiting != 3 || st.Dropped != 2 {
		t.Fatalf("stats %+v, want 3 waiting, 2 dropped", st)
	}
	// The first three are kept; the turns themselves all went through.
	types, bodies := waiting(t, read, "demo/a")
	if len(types) != 3 || bodies[2]["data"].(map[string]any)["message"].(map[string]any)["text"] != "hi 1" {
		t.Fatalf("waiting %v %v", types, bodies)
	}
	if msgs, err := s.Messages(ctx, sess.ID, 0); err != nil || len(msgs) != 4 {
		t.Fatalf("messages %d, %v", len(msgs), err)
	}
	// Too large: nothing written, no backlog taken.
	big := storage.State{Variables: map[string]string{"x": strings.Repeat("x", storage.MaxStateBytes)}}
	if _, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, State: &big}); !errors.Is(err, storage.ErrTooLarge) {
		t.Fatal(err)
	}
	if st := s.OutboxStats("demo/a"); st.Waiting != 3 || st.Dropped != 2 {
		t.Fatalf("stats after a failed write %+v", st)
	}
}

func testOutboxNotRouted(t *testing.T, open func(testing.TB) (OutboxWriteEngine, OutboxReader)) {
	s, read := open(t)
	ctx := context.Background()
	// Before SetOutbox nothing is written.
	sess := turnSession(t, s, storage.NewID(turnDay), turnDay)
	routeDemo(s, 0, "demo/a")
	// Another site's events go nowhere.
	v := &storage.Visitor{ID: storage.NewID(turnDay), Site: "other", CreatedAt: turnDay}
	other := &storage.Session{ID: storage.NewID(turnDay), Site: "other", VisitorID: v.ID, Bot: "demo", StartedAt: turnDay}
	if err := s.CreateSession(ctx, v, other); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: other.ID, Messages: []storage.Message{visitorText(turnDay, "hi", "")}}); err != nil {
		t.Fatal(err)
	}
	if types, _ := waiting(t, read, "demo/a"); len(types) != 0 {
		t.Fatalf("waiting %v, want none", types)
	}
	// From now on demo's are.
	if _, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, Messages: []storage.Message{visitorText(turnDay, "hi", "")}}); err != nil {
		t.Fatal(err)
	}
	if types, _ := waiting(t, read, "demo/a"); len(types) != 1 || types[0] != storage.EventMessageCreated {
		t.Fatalf("waiting %v, want one message.created", types)
	}
}
