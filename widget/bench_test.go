package widget_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

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
func BenchmarkAckedMessages(b *testing.B) {
	for _, sync := range []bool{false, true} {
		name := "NoSync"
		if sync {
			name = "Sync"
		}
		b.Run(name, func(b *testing.B) {
			e := mustEnvWith(b, widget.Config{MsgRate: -1, MaxConnsPerIP: -1, NewVisitorsPerIP: -1, NewSessionsPerIP: -1}, storage.Options{SyncWrites: sync})
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
