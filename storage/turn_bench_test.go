package storage

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRecordTurn times the store's share of a chat turn as the gateway
// records it: an owner's copy of the session (Turn.Prev, nothing read), a
// visitor text with its ack and the bot's answer, a state change; turns of
// many sessions at once, group-committed and folded behind. Compare the
// widget's BenchmarkAckedMessages (the same through the WebSocket gateway):
//
//	go test -run=NONE -bench=RecordTurn -benchmem ./storage
func BenchmarkRecordTurn(b *testing.B) {
	for _, sync := range []bool{false, true} {
		name := "NoSync"
		if sync {
			name = "Sync"
		}
		b.Run(name, func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{SyncWrites: sync})
			if err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			var n atomic.Int64
			b.SetParallelism(32)
			b.ReportAllocs()
			cpu0 := processCPU(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				own := ownedSessions(b, s, 1, t0)[0]
				st := State{Current: "menu", Reached: []string{"welcome", "menu"}, Variables: map[string]string{"first_name": "Ann"}}
				id := n.Add(1)
				for i := 0; pb.Next(); i++ {
					cid := fmt.Sprintf("c%d-%d", id, i)
					at := t0.Add(time.Duration(i) * time.Millisecond)
					st.Previous, st.Current = st.Current, "menu"
					next, _, _, err := s.RecordTurn(context.Background(), &Turn{SessionID: own.ID, ClientID: cid, Prev: own, State: &st, Messages: []Message{
						{From: FromVisitor, Kind: KindText, At: at, Text: "how much does it cost?", ClientID: cid},
						{From: FromBot, Kind: KindBot, At: at, Text: "Plans start at 9 € a month.", Block: "price"},
					}})
					if err != nil {
						b.Error(err)
						return
					}
					own = next
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "turns/s")
			// CPU time rather than wall time: the store's background work
			// (memtable flushes, compactions, and the fold, which Close
			// finishes) is in it, and it moves less than turns/s when
			// other jobs share the machine.
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/turn")
		})
	}
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
