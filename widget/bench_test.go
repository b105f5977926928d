package widget_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

// BenchmarkAckedMessages measures visitor messages per second acked through
// the real WebSocket gateway and a Badger store on disk, without and with
// SyncWrites (`parley serve --sync`: every commit fsynced before its ack):
// each parallel client sends a text and waits for its ack (the story's
// fallback answer is stored in the same turn). The per-connection rate
// limit is off: the gateway and store are what is measured. Compare with
// BenchmarkEchoBaseline from the same run:
//
//	go test -run=NONE -bench='AckedMessages|EchoBaseline' -benchtime=5s ./widget
//
// NoStore is the same gateway over a store that keeps the sessions in
// memory and writes nothing (memStore): the gateway's own share of a turn.
func BenchmarkAckedMessages(b *testing.B) {
	cfg := widget.Config{MsgRate: -1, MaxConnsPerIP: -1, NewVisitorsPerIP: -1, NewSessionsPerIP: -1}
	for _, name := range []string{"NoSync", "Sync", "NoStore"} {
		b.Run(name, func(b *testing.B) {
			var e *env
			switch name {
			case "NoStore":
				e = &env{tb: b, dir: b.TempDir(), clock: &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, gatewayStore: newMemStore()}
				e.open(cfg)
				b.Cleanup(e.close)
			default:
				e = mustEnvWith(b, cfg, storage.Options{SyncWrites: name == "Sync"})
			}
			var n atomic.Int64
			b.SetParallelism(8)
			// Allocations per acked turn: the gateway's, the store's and the
			// in-process test clients' together.
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := e.dial(widgettest.NewJar())
				c.MustHello(widgettest.Hello{})
				c.ExpectPrompt()
				id := n.Add(1)
				for i := 0; pb.Next(); i++ {
					c.MustText(fmt.Sprintf("c%d-%d", id, i), "how much does it cost?")
					for {
						f := c.Next()
						if f.Type == "ack" {
							break
						}
						if f.Type == "error" {
							b.Errorf("error frame %s: %s", f.Code, f.Message)
							return
						}
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "acks/s")
		})
	}
}

// BenchmarkNewConversation measures conversations started per second
// through the gateway: on an open socket, each parallel client says
// hello with new and reads up to the bot's first question. A new session,
// its opening messages and the visitor's rollups are stored on this path;
// its allocations (server and client together) are the garbage each hello
// leaves, which is what idle RSS above heap is made of:
//
//	go test -run=NONE -bench=NewConversation -benchmem ./widget
func BenchmarkNewConversation(b *testing.B) {
	e := mustEnvWith(b, widget.Config{MsgRate: -1, MaxConnsPerIP: -1, NewVisitorsPerIP: -1, NewSessionsPerIP: -1, NewSessionsPerVisitor: -1}, storage.Options{})
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := e.dial(widgettest.NewJar())
		for pb.Next() {
			c.MustHello(widgettest.Hello{New: true})
			c.ExpectPrompt()
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hellos/s")
}

// BenchmarkEchoBaseline is the floor: a bare coder/websocket echo server
// with the same client pattern (one ~100-byte JSON frame, one reply).
func BenchmarkEchoBaseline(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		for {
			typ, msg, err := ws.Read(r.Context())
			if err != nil {
				return
			}
			if err := ws.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	frame := []byte(`{"type":"text","id":"c1-1","text":"how much does it cost? padding padding padding padding"}`)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		ws, _, err := widgettest.Dial(ctx, "ws"+srv.URL[4:], widgettest.Options{})
		if err != nil {
			b.Error(err)
			return
		}
		defer ws.CloseNow()
		for pb.Next() {
			if err := ws.SendRaw(ctx, frame); err != nil {
				b.Error(err)
				return
			}
			if _, err := ws.Read(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
}

// memStore is a store that writes nothing: it keeps each session as the
// gateway last recorded it, in memory, so a benchmark measures the
// gateway alone. The methods a benchmark does not reach are left to the
// nil Store it embeds (they panic).
type memStore struct {
	widget.Store
	mu       sync.Mutex
	sessions map[string]storage.Session
}

func newMemStore() *memStore { return &memStore{sessions: map[string]storage.Session{}} }

func (m *memStore) StartSession(_ context.Context, _ *storage.Visitor, sess *storage.Session, opening *storage.Turn) error {
	if sess.LastActivityAt.IsZero() {
		sess.LastActivityAt = sess.StartedAt
	}
	if opening != nil {
		opening.SessionID = sess.ID
		storage.ApplyTurn(opening, sess)
	}
	m.mu.Lock()
	m.sessions[sess.ID] = *sess
	m.mu.Unlock()
	return nil
}

func (m *memStore) RecordTurn(_ context.Context, t *storage.Turn) (*storage.Session, storage.Ack, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next, ok := m.sessions[t.SessionID]
	if t.Prev != nil {
		next, ok = *t.Prev, true
	}
	if !ok {
		return nil, storage.Ack{}, false, storage.ErrNotFound
	}
	next.Inputs, next.Files = slices.Clip(next.Inputs), slices.Clip(next.Files)
	ack := storage.ApplyTurn(t, &next)
	m.sessions[t.SessionID] = next
	return &next, ack, false, nil
}

func (m *memStore) Session(_ context.Context, id string) (*storage.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sess, ok := m.sessions[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return &sess, nil
}

func (m *memStore) LatestSession(context.Context, string) (*storage.Session, error) {
	return nil, storage.ErrNotFound
}

func (m *memStore) HasVisitor(context.Context, string) (bool, error) { return true, nil }

func (m *memStore) Messages(context.Context, string, int) ([]storage.Message, error) {
	return nil, nil
}

func (m *memStore) Acks(context.Context, string) (map[string]storage.Ack, error) {
	return map[string]storage.Ack{}, nil
}

func (m *memStore) CountRefused(storage.Refusal)                               {}
func (m *memStore) FlushRefused(context.Context) error                         { return nil }
func (m *memStore) OnErase(func(visitorID string))                             {}
func (m *memStore) OnMerge(func(from, into string, sessions []string))         {}
func (m *memStore) Handovers(context.Context) ([]storage.HandoverEntry, error) { return nil, nil }
