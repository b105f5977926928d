package widget_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/identity"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
)

// BenchmarkAckedMessagesSync measures acked visitor messages per second
// without and with SyncWrites (`parley serve --sync`: every commit is
// fsynced before its ack), in the same run, through the real gateway and
// a store on disk. The per-connection rate limit is off: the store is
// what is measured.
//
//	go test -run=NONE -bench=AckedMessagesSync -benchtime=5s ./widget
func BenchmarkAckedMessagesSync(b *testing.B) {
	for _, sync := range []bool{false, true} {
		name := "NoSync"
		if sync {
			name = "Sync"
		}
		b.Run(name, func(b *testing.B) {
			e := mustEnvStore(b, widget.Config{MsgRate: -1, MaxConnsPerIP: -1}, storage.Options{SyncWrites: sync})
			var n atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := e.dial(newBrowser())
				c.hello(map[string]any{})
				c.untilPrompt()
				id := n.Add(1)
				i := 0
				for pb.Next() {
					i++
					c.send(map[string]any{"type": "text", "id": fmt.Sprintf("c%d-%d", id, i), "text": "how much does it cost?"})
					for {
						if f := c.next(); f.Type == "ack" {
							break
						} else if f.Type == "error" {
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

// mustEnvStore is mustEnv with store options.
func mustEnvStore(tb testing.TB, cfg widget.Config, opts storage.Options) *env {
	tb.Helper()
	e := &env{tb: tb, dir: tb.TempDir(), clock: &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	var err error
	if e.store, err = storage.Open(e.dir, opts); err != nil {
		tb.Fatal(err)
	}
	if e.keys, err = identity.LoadOrCreateKeyring(e.dir); err != nil {
		tb.Fatal(err)
	}
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	e.gw = widget.New(cfg, e.store, e.keys, []*widget.Site{demoSite()})
	mux := http.NewServeMux()
	mux.Handle("GET /v1/ws", e.gw)
	e.srv = httptest.NewServer(mux)
	tb.Cleanup(e.close)
	return e
}
