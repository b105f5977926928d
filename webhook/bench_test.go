package webhook_test

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkDelivery: events per second to a receiver that takes 10 ms to
// answer each, 20 sessions of 10 messages at a time, one at a time to the
// endpoint and several.
func BenchmarkDelivery(b *testing.B) {
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("Concurrency=%d", n), func(b *testing.B) {
			s := mustStore(b)
			r := newReceiver(b)
			r.setBehave(func(int, delivery) int { time.Sleep(10 * time.Millisecond); return 0 })
			cfg := fastConfig(s)
			cfg.Concurrency = n
			startDispatcher(b, cfg, endpoint("crm", r.URL, true))
			b.ResetTimer()
			start := time.Now()
			total := 0
			for range b.N {
				for range 20 {
					conversation(b, s, 10)
				}
				total += 20 * 11
				waitFor(b, 5*time.Minute, "every event", func() bool { return len(r.deliveries()) >= total })
			}
			b.ReportMetric(float64(total)/time.Since(start).Seconds(), "events/s")
		})
	}
}
