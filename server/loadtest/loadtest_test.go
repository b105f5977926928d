package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/loadtest"
	"github.com/parley-chat/parley/widget"
)

// testToken is the admin token of the test servers: /metrics needs it.
const testToken = "test-admin-token-0123456789abcdef"

// mustParley runs a Parley with limits on a temp data dir and returns its
// host:port.
func mustParley(tb testing.TB, limits widget.Config) string {
	tb.Helper()
	return mustParleyOn(tb, limits, nil)
}

// mustParleyOn is mustParley with a wrapper for the listener.
func mustParleyOn(tb testing.TB, limits widget.Config, wrap func(net.Listener) net.Listener) string {
	tb.Helper()
	s, err := server.Open(server.Config{DataDir: tb.TempDir(), AdminToken: testToken, Limits: limits})
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(s.Handler())
	if wrap != nil {
		ts.Listener = wrap(ts.Listener)
	}
	ts.Start()
	tb.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		s.Close()
	})
	return ts.Listener.Addr().String()
}

func TestLoadtest_Story(t *testing.T) {
	addr := mustParley(t, widget.Config{})
	rep, err := loadtest.Run(context.Background(), loadtest.Options{
		Addr: addr, MetricsToken: testToken, Visitors: 8, Rate: 4, Duration: 2 * time.Second, Spread: "127.0.0.0/8", Baseline: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	t.Log("\n" + table.String())

	if rep.Held != 8 || rep.Dropped != 0 || rep.Failed != 0 {
		t.Errorf("held %d dropped %d failed %d, want all 8 held", rep.Held, rep.Dropped, rep.Failed)
	}
	// About 8 visitors × 4/s × 2 s; each acked and answered by the bot.
	if rep.Acked < 32 || rep.Ack.Count != uint64(rep.Acked) || rep.Reply.Count < uint64(rep.Acked)*9/10 {
		t.Errorf("sent %d acked %d (%d timed), %d bot replies", rep.Sent, rep.Acked, rep.Ack.Count, rep.Reply.Count)
	}
	if len(rep.Errors) != 0 || len(rep.Closes) != 0 {
		t.Errorf("errors %v closes %v", rep.Errors, rep.Closes)
	}
	if rep.Connect.Count != 8 || rep.Welcome.Count != 8 || rep.Ack.P99 <= 0 || rep.Ack.Max < rep.Ack.P99 {
		t.Errorf("latencies: connect %+v welcome %+v ack %+v", rep.Connect, rep.Welcome, rep.Ack)
	}
	if rep.Memory == nil || rep.Memory.Conns != 8 || rep.Memory.HeapAfter == 0 {
		t.Errorf("memory %+v", rep.Memory)
	}
	if rep.CPU == nil || rep.CPU.Seconds <= 0 || rep.CPU.PerAckedMicros <= 0 {
		t.Errorf("server CPU %+v", rep.CPU)
	}
	// The tool's own CPU. The server runs in the test's process, so the
	// tool's span, around both of the server's readings, holds the
	// server's CPU as well (which counts in 10 ms ticks).
	if c := rep.ToolCPU; c == nil || c.PerAckedMicros <= 0 || c.Seconds < rep.CPU.Seconds-0.02 {
		t.Errorf("tool CPU %+v, server CPU %+v", c, rep.CPU)
	}
	// Parley's own histograms: every frame waited for a worker (the
	// hellos too), every acked turn was a store write.
	if w := rep.TurnWait; w == nil || w.Count < rep.Acked+8 || w.P99UpTo <= 0 {
		t.Errorf("turn wait %+v, want ≥ %d frames", w, rep.Acked+8)
	}
	if w := rep.StoreWrite; w == nil || w.Count < rep.Acked {
		t.Errorf("store writes %+v, want ≥ %d", w, rep.Acked)
	}
	if w := rep.SessionStart; w == nil || w.Count < 8 {
		t.Errorf("session starts %+v, want ≥ 8", w)
	}
	// The demo story ends within the turns each visitor takes, and the
	// visitor starts a new conversation on its socket.
	if rep.Again.Count == 0 || rep.Again.Max < rep.Again.P50 {
		t.Errorf("new conversations: %+v, want some timed", rep.Again)
	}
	b := rep.Baseline
	if b == nil || b.Server != "echo" || b.Held != 8 || b.Acked < 32 || b.Reply.Count != 0 || b.Memory == nil {
		t.Fatalf("baseline %+v", b)
	}
	if b.CPU == nil || b.CPU.PerAckedMicros <= 0 {
		t.Errorf("echo CPU %+v", b.CPU)
	}
	if b.TurnWait != nil || b.StoreWrite != nil {
		t.Errorf("the echo has Parley's histograms: %+v %+v", b.TurnWait, b.StoreWrite)
	}
	for _, want := range []string{"connections held", "8 / 8", "message → bot reply", "server CPU per acked message", "load tool CPU per acked message", "parley / echo", "frame read → worker"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	// --json carries the same.
	j, _ := json.Marshal(rep)
	var back loadtest.Report
	if err := json.Unmarshal(j, &back); err != nil || back.Baseline == nil || back.Acked != rep.Acked {
		t.Errorf("JSON round trip: %v %s", err, j)
	}
}

func TestLoadtest_Metrics(t *testing.T) {
	// Parley's /metrics is not public: the tool reads it with the admin
	// token, or from the debug address, and says what to do without.
	s, err := server.Open(server.Config{DataDir: t.TempDir(), AdminToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	debug := httptest.NewServer(s.DebugHandler())
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		debug.Close()
		s.Close()
	})
	addr := ts.Listener.Addr().String()
	for _, tc := range []struct {
		name string
		o    loadtest.Options
		note string
	}{
		{"Token", loadtest.Options{MetricsToken: testToken}, ""},
		{"DebugAddr", loadtest.Options{MetricsURL: debug.URL + "/metrics"}, ""},
		{"NoToken", loadtest.Options{}, "PARLEY_ADMIN_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Addr, o.Visitors, o.Rate, o.Duration = addr, 3, 0, 200*time.Millisecond
			rep, err := loadtest.Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			notes := strings.Join(rep.Notes, " ")
			if tc.note == "" && (rep.Memory == nil || rep.Memory.Conns != 3 || rep.Memory.HeapAfter == 0) {
				t.Errorf("memory %+v, notes %q", rep.Memory, notes)
			}
			if tc.note != "" && (rep.Memory != nil || !strings.Contains(notes, tc.note)) {
				t.Errorf("memory %+v, notes %q: want a note naming %s", rep.Memory, notes, tc.note)
			}
		})
	}
}

func TestLoadtest_Modes(t *testing.T) {
	t.Run("Idle", func(t *testing.T) {
		addr := mustParley(t, widget.Config{})
		rep, err := loadtest.Run(context.Background(), loadtest.Options{Addr: addr, MetricsToken: testToken, Visitors: 20, Rate: 0, Duration: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Held != 20 || rep.Sent != 0 || rep.Welcome.Count != 20 {
			t.Errorf("held %d sent %d welcomed %d", rep.Held, rep.Sent, rep.Welcome.Count)
		}
	})
	t.Run("AsFastAsAcked", func(t *testing.T) {
		addr := mustParley(t, widget.Config{MsgRate: -1})
		rep, err := loadtest.Run(context.Background(), loadtest.Options{Addr: addr, MetricsToken: testToken, Visitors: 4, Rate: -1, Duration: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Acked < 50 || rep.AckedPerSec <= 0 {
			t.Errorf("acked %d (%.0f/s)", rep.Acked, rep.AckedPerSec)
		}
	})
	t.Run("RateLimited", func(t *testing.T) {
		// The server's limit shows up as error codes and 1008 closes.
		addr := mustParley(t, widget.Config{MsgRate: 1, MsgBurst: 2, RateLimitClose: 3})
		rep, err := loadtest.Run(context.Background(), loadtest.Options{Addr: addr, MetricsToken: testToken, Visitors: 3, Rate: 50, Duration: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Errors["rate_limited"] == 0 || rep.Closes["1008 StatusPolicyViolation"] != 3 || rep.Dropped != 3 {
			t.Errorf("errors %v closes %v dropped %d", rep.Errors, rep.Closes, rep.Dropped)
		}
	})
	t.Run("Stalled", func(t *testing.T) {
		// Small server-side buffers, so a client that does not read blocks
		// the server's writes after a few KiB rather than MiBs.
		addr := mustParleyOn(t, widget.Config{MsgRate: -1, WriteTimeout: 300 * time.Millisecond}, func(ln net.Listener) net.Listener { return smallSendBuffers{ln} })
		rep, err := loadtest.Run(context.Background(), loadtest.Options{Addr: addr, MetricsToken: testToken, Visitors: 4, Rate: 5, Duration: 3 * time.Second, Stalled: 1, StalledRate: 300})
		if err != nil {
			t.Fatal(err)
		}
		st := rep.Stalled
		if st == nil || st.Count != 1 || st.Dropped != 1 || st.ServerSD != 1 {
			t.Errorf("stalled %+v, want one, dropped by the server", st)
		}
		if rep.Held != 4 || rep.Acked == 0 {
			t.Errorf("held %d acked %d", rep.Held, rep.Acked)
		}
	})
	t.Run("ServerLagging", func(t *testing.T) {
		// Every write of the server takes 150 ms, so a turn (ack and the
		// bot's messages) takes longer than the visitors' 100 ms interval:
		// a visitor lets those turns pass rather than send into a question
		// the server has moved past, an input or an ended story.
		addr := mustParleyOn(t, widget.Config{MsgRate: -1, NewSessionsPerVisitor: -1}, func(ln net.Listener) net.Listener { return slowWrites{ln, 150 * time.Millisecond} })
		rep, err := loadtest.Run(context.Background(), loadtest.Options{Addr: addr, MetricsToken: testToken, Visitors: 4, Rate: 10, Duration: 4 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Errors) != 0 || rep.Passed == 0 || rep.Acked == 0 {
			t.Errorf("errors %v, %d turns passed, %d acked of %d sent", rep.Errors, rep.Passed, rep.Acked, rep.Sent)
		}
	})
	t.Run("OnlyItsTarget", func(t *testing.T) {
		if _, err := loadtest.Run(context.Background(), loadtest.Options{Addr: "192.0.2.1:80", Spread: "127.0.0.0/8"}); err == nil {
			t.Error("spreading loopback sources towards another host was accepted")
		}
	})
}

func TestLoadtest_OpenFileLimit(t *testing.T) {
	addr := mustParley(t, widget.Config{MaxConnsPerIP: -1})
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skip(err)
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	if len(fds) == 0 {
		t.Skip("no /proc/self/fd")
	}
	low := rl
	low.Cur = uint64(len(fds) + 40)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skip(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)

	start := time.Now()
	rep, err := loadtest.Run(context.Background(), loadtest.Options{Addr: addr, MetricsToken: testToken, Visitors: 500, Rate: 0, Duration: 100 * time.Millisecond, Timeout: 2 * time.Second, Concurrency: 10})
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held %d, failed %d in %v; notes %q; errors %v", rep.Held, rep.Failed, time.Since(start), rep.Notes, rep.Errors)
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v to give up", d)
	}
	if rep.Held >= 500 || rep.Errors["tool_open_file_limit"] == 0 || !strings.Contains(strings.Join(rep.Notes, " "), "open-file limit") {
		t.Errorf("held %d, errors %v, notes %q: want a stop at the open-file limit, said clearly", rep.Held, rep.Errors, rep.Notes)
	}
}

type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

// slowWrites delays every write of the server's connections.
type slowWrites struct {
	net.Listener
	delay time.Duration
}

func (l slowWrites) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return slowConn{c, l.delay}, nil
}

type slowConn struct {
	net.Conn
	delay time.Duration
}

func (c slowConn) Write(p []byte) (int, error) {
	time.Sleep(c.delay)
	return c.Conn.Write(p)
}
