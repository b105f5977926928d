package postgres

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
// With /blocks, every turn also moves the session to another of a
// story's 20 blocks: one block more and one less reached, two of the
// funnel's counters changed with each turn (counters.go), more than a
// story's turn changes, the record staying its size.
func BenchmarkRecordTurn(b *testing.B) {
	for _, owners := range []int{1, 64, 1000} {
		b.Run(fmt.Sprintf("sessions=%d", owners), func(b *testing.B) { benchRecordTurn(b, owners, textTurn) })
		b.Run(fmt.Sprintf("sessions=%d/blocks", owners), func(b *testing.B) { benchRecordTurn(b, owners, blockTurn) })
	}
}

// blockTurn is textTurn moving the session from its last block to
// another.
func blockTurn(sess *storage.Session, cid string, at time.Time) *storage.Turn {
	t := textTurn(sess, cid, at)
	st := sess.State
	k, _ := strconv.Atoi(strings.TrimPrefix(cid, "c"))
	st.Reached = []string{"welcome", fmt.Sprint("step ", k%20)}
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
	dbCPU0, goCPU0 := dbCPU(b, s), processCPU(b)
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
	// CPU, which other jobs on the machine change less than turns/s: the
	// database's backends' and this process's.
	b.ReportMetric(float64((dbCPU(b, s)-dbCPU0).Microseconds())/turns, "db-cpu-µs/turn")
	b.ReportMetric(float64((processCPU(b)-goCPU0).Microseconds())/turns, "go-cpu-µs/turn")
	var stored int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&stored); err != nil {
		b.Fatal(err)
	}
	if want := 2 * (n + b.N); stored != want {
		b.Fatalf("%d messages stored, want %d", stored, want)
	}
}

// dbCPU is the CPU time the database's backends serving s have used so
// far (user and system, from /proc: the server runs on this machine in
// tests), found by the connections' application_name.
func dbCPU(tb testing.TB, s *Store) time.Duration {
	tb.Helper()
	rows, _ := s.pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity
		WHERE application_name = current_setting('application_name')`)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		tb.Fatal(err)
	}
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			tb.Skipf("the database's CPU: %v (not on this machine?)", err)
		}
		// After the command's name in parentheses: state is field 3,
		// utime 14, stime 15.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		for _, i := range []int{14 - 3, 15 - 3} {
			n, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// processCPU is the CPU time this process has used so far.
func processCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
