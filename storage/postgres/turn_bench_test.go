package postgres

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// countingConn counts the bytes a connection sends and receives.
type countingConn struct {
	net.Conn
	sent, received *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.sent.Add(int64(n))
	return n, err
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.received.Add(int64(n))
	return n, err
}

// BenchmarkRecordTurn records turns of many live sessions at once, each
// through its owner (Turn.Prev), as the gateway does: a visitor's text
// and the bot's answer, with a client ID. It reports the turns per
// second, the database round trips per turn (commits: one batch each)
// and the bytes sent to and received from the database per turn.
//
//	go test -run '^$' -bench RecordTurn -benchtime 20000x ./storage/postgres
//
// With /blocks, every turn also reaches a block the session had not
// reached (the funnel's counters change with each turn, counters.go).
func BenchmarkRecordTurn(b *testing.B) {
	for _, owners := range []int{1, 64, 1000} {
		b.Run(fmt.Sprintf("sessions=%d", owners), func(b *testing.B) { benchRecordTurn(b, owners, textTurn) })
		b.Run(fmt.Sprintf("sessions=%d/blocks", owners), func(b *testing.B) { benchRecordTurn(b, owners, blockTurn) })
	}
}

// blockTurn is textTurn reaching the session's next block.
func blockTurn(sess *storage.Session, cid string, at time.Time) *storage.Turn {
	t := textTurn(sess, cid, at)
	st := sess.State
	st.Reached = append(slices.Clip(st.Reached), fmt.Sprint("step ", len(st.Reached)))
	t.State = &st
	return t
}

func benchRecordTurn(b *testing.B, n int, turn func(*storage.Session, string, time.Time) *storage.Turn) {
	var sent, received atomic.Int64
	var d net.Dialer
	s := openTest(b, postgrestest.URL(b), Options{dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, sent: &sent, received: &received}, nil
	}})
	owners := startSessions(b, s, n)
	ctx := context.Background()
	// Warm up: every connection has prepared the turn's statement.
	for i := range owners {
		next, _, _, err := s.RecordTurn(ctx, textTurn(owners[i], "warm", t0.Add(time.Second)))
		if err != nil {
			b.Fatal(err)
		}
		owners[i] = next
	}
	var next atomic.Int64
	batches, sent0, received0 := s.turns.commits.batches.Load(), sent.Load(), received.Load()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range owners {
		wg.Go(func() {
			for k := next.Add(1); k <= int64(b.N); k = next.Add(1) {
				at := t0.Add(time.Duration(k) * time.Millisecond)
				nx, ack, _, err := s.RecordTurn(ctx, turn(owners[i], fmt.Sprint("c", k), at))
				if err != nil || ack.ID == "" {
					b.Errorf("turn: %v", err)
					return
				}
				owners[i] = nx
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	turns := float64(b.N)
	b.ReportMetric(turns/elapsed.Seconds(), "turns/s")
	b.ReportMetric(float64(s.turns.commits.batches.Load()-batches)/turns, "roundtrips/turn")
	b.ReportMetric(float64(sent.Load()-sent0)/turns, "sent-B/turn")
	b.ReportMetric(float64(received.Load()-received0)/turns, "recv-B/turn")
	var stored int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&stored); err != nil {
		b.Fatal(err)
	}
	if want := 2 * (n + b.N); stored != want {
		b.Fatalf("%d messages stored, want %d", stored, want)
	}
}
