package widget_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

// dialStatus opens a socket with extra headers and returns it, or the HTTP
// status that refused it.
func (e *env) dialStatus(h http.Header) (*widgettest.Conn, int) {
	e.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), widgettest.Timeout)
	defer cancel()
	ws, resp, err := widgettest.Dial(ctx, e.wsURL(), widgettest.Options{Origin: testOrigin, Header: h})
	if err != nil {
		if resp == nil {
			e.tb.Fatalf("dial: %v", err)
		}
		return nil, resp.StatusCode
	}
	e.tb.Cleanup(func() { ws.CloseNow() })
	return ws, http.StatusSwitchingProtocols
}

// waitFor polls cond until it holds or d passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readUntilClose reads frames until the socket closes and returns them and
// the close error.
func readUntilClose(tb testing.TB, ws *widgettest.Conn) ([]widgettest.Frame, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []widgettest.Frame
	for {
		f, err := ws.Read(ctx)
		if errors.Is(err, widgettest.ErrNotAFrame) {
			tb.Fatal(err)
		}
		if err != nil {
			return got, err
		}
		got = append(got, f)
	}
}

func TestProtect_RateLimit(t *testing.T) {
	// Burst 3: hello and two texts pass, then every frame is refused; the
	// third refusal in a row closes with 1008.
	e := mustEnv(t, widget.Config{MsgRate: 0.01, MsgBurst: 3, RateLimitClose: 2})
	c := e.dial(widgettest.NewJar())
	w := c.MustHello(widgettest.Hello{})
	c.ExpectPrompt()
	for i := 1; i <= 6; i++ {
		// The server may close before the last frames are written.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c.SendRaw(ctx, fmt.Appendf(nil, `{"type":"text","id":"c%d","text":"hi"}`, i))
		cancel()
	}
	got, err := readUntilClose(t, c.Conn)
	if status := widgettest.CloseStatus(err); status != widgettest.StatusPolicy {
		t.Fatalf("close = %v (%v), want 1008", status, err)
	}
	var acks, limited []string
	for _, f := range got {
		switch {
		case f.Type == "ack":
			acks = append(acks, f.Ref)
		case f.Type == "error" && f.Code == "rate_limited":
			limited = append(limited, f.Ref)
		}
	}
	if want := []string{"c1", "c2"}; !slices.Equal(acks, want) {
		t.Errorf("acked %v, want %v", acks, want)
	}
	if want := []string{"c3", "c4"}; !slices.Equal(limited, want) {
		t.Errorf("rate_limited refs %v, want %v", limited, want)
	}
	// Refused frames are not stored: the bot's opening, two texts and the
	// two fallback answers, each with the open question asked again.
	msgs, err := e.store.Messages(context.Background(), w.Session, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2+2*3 {
		t.Errorf("stored %d messages, want 8", len(msgs))
	}
	if n := e.gw.Stats.Closed("rate_limit"); n != 1 {
		t.Errorf("closed for rate_limit = %d, want 1", n)
	}

	t.Run("Refills", func(t *testing.T) {
		e := mustEnv(t, widget.Config{MsgRate: 50, MsgBurst: 2})
		c := e.dial(widgettest.NewJar())
		c.MustHello(widgettest.Hello{})
		c.ExpectPrompt()
		for i := 1; i <= 5; i++ {
			time.Sleep(40 * time.Millisecond) // 2 tokens a turn at 50/s
			c.MustText(fmt.Sprintf("c%d", i), "hi")
			if f := c.Expect("ack"); f.Ref != fmt.Sprintf("c%d", i) {
				t.Fatalf("got %+v", f)
			}
			c.ExpectPrompt() // the fallback, then the question again
		}
	})
}

func TestProtect_ConnCaps(t *testing.T) {
	t.Run("PerIP", func(t *testing.T) {
		// The test stands in for a proxy: the client address is a header.
		e := mustEnv(t, widget.Config{MaxConnsPerIP: 2, ClientIP: func(r *http.Request) string { return r.Header.Get("X-Test-IP") }})
		ip := func(a string) http.Header { return http.Header{"X-Test-IP": {a}} }
		a, _ := e.dialStatus(ip("198.51.100.7"))
		e.dialStatus(ip("198.51.100.7"))
		if _, status := e.dialStatus(ip("198.51.100.7")); status != http.StatusServiceUnavailable {
			t.Fatalf("third socket from one address: status %d, want 503", status)
		}
		if _, status := e.dialStatus(ip("198.51.100.8")); status != http.StatusSwitchingProtocols {
			t.Fatalf("another address: status %d, want 101", status)
		}
		// IPv6 counts per /64.
		e.dialStatus(ip("2001:db8:1:2::1"))
		e.dialStatus(ip("2001:db8:1:2::2"))
		if _, status := e.dialStatus(ip("2001:db8:1:2:ffff::3")); status != http.StatusServiceUnavailable {
			t.Fatalf("third socket from one /64: status %d, want 503", status)
		}
		// A closed socket gives its slot back.
		a.Close()
		waitFor(t, 5*time.Second, "the slot was not given back", func() bool {
			ws, status := e.dialStatus(ip("198.51.100.7"))
			if ws != nil {
				ws.CloseNow()
			}
			return status == http.StatusSwitchingProtocols
		})
		if n := e.gw.Stats.Refused("per_ip"); n < 2 {
			t.Errorf("refused per_ip = %d, want at least 2", n)
		}
	})

	t.Run("Global", func(t *testing.T) {
		e := mustEnv(t, widget.Config{MaxConns: 3, MaxConnsPerIP: -1})
		for range 3 {
			if _, status := e.dialStatus(nil); status != http.StatusSwitchingProtocols {
				t.Fatalf("status %d, want 101", status)
			}
		}
		_, resp, err := widgettest.Dial(context.Background(), e.wsURL(), widgettest.Options{Origin: testOrigin})
		if resp == nil {
			t.Fatalf("fourth socket: %v, want a refused handshake", err)
		}
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("fourth socket: status %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if n := e.gw.Stats.Refused("capacity"); n != 1 {
			t.Errorf("refused capacity = %d, want 1", n)
		}
		// The gauge counts a socket just after its 101 went out.
		waitFor(t, 5*time.Second, "the open-connections gauge never showed 3", func() bool { return e.gw.Stats.ConnectionsOpen.Load() == 3 })
	})
}

func TestProtect_Idle(t *testing.T) {
	cfg := widget.Config{PingInterval: 100 * time.Millisecond, PongTimeout: 200 * time.Millisecond, IdleTimeout: 400 * time.Millisecond, HandshakeTimeout: 300 * time.Millisecond}

	t.Run("DeadPeerClosed", func(t *testing.T) {
		e := mustEnv(t, cfg)
		// A live client reads, so the library answers pings.
		live := e.dial(widgettest.NewJar())
		live.MustHello(widgettest.Hello{})
		liveErr := live.Drain()
		// A dead one stops reading after its welcome: no pongs.
		dead := e.dial(widgettest.NewJar())
		dead.MustHello(widgettest.Hello{})
		waitFor(t, 3*time.Second, "the dead peer was not closed", func() bool {
			return e.gw.Stats.ConnectionsOpen.Load() == 1
		})
		if n := e.gw.Stats.Closed("no_pong") + e.gw.Stats.Closed("idle"); n != 1 {
			t.Errorf("closed as dead = %d, want 1", n)
		}
		// The live one outlasts many idle timeouts on pongs alone.
		select {
		case err := <-liveErr:
			t.Fatalf("live client closed: %v", err)
		case <-time.After(5 * cfg.IdleTimeout):
		}
		if e.gw.Stats.ConnectionsOpen.Load() != 1 {
			t.Fatal("the live client was dropped")
		}
	})

	t.Run("NoHello", func(t *testing.T) {
		e := mustEnv(t, cfg)
		ws, _ := e.dialStatus(nil)
		start := time.Now()
		_, err := readUntilClose(t, ws)
		if status := widgettest.CloseStatus(err); status != widgettest.StatusPolicy {
			t.Fatalf("close = %v (%v), want 1008", status, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("closed after %v, want about %v", d, cfg.HandshakeTimeout)
		}
		if n := e.gw.Stats.Closed("hello_timeout"); n != 1 {
			t.Errorf("closed for hello_timeout = %d, want 1", n)
		}
	})
}

// smallBuffers shrinks the kernel buffers of accepted sockets, so a client
// that stops reading blocks the server's writes after a few KiB, not MiBs.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

// smallBufferServer serves e's gateway from a listener with small buffers.
func smallBufferServer(tb testing.TB, e *env) (wsURL string, client *http.Client) {
	tb.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /v1/ws", e.gw)
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	tb.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	d := &net.Dialer{}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4 << 10)
		}
		return c, err
	}}
	return "ws" + srv.URL[4:] + "/v1/ws?site=demo", &http.Client{Transport: tr}
}

// roundTrips sends texts on c for d, each after the previous ack and bot
// answer, and returns the round-trip times.
func roundTrips(tb testing.TB, c *widgettest.Client, prefix string, d time.Duration) []time.Duration {
	tb.Helper()
	var rtts []time.Duration
	for i, end := 0, time.Now().Add(d); time.Now().Before(end); i++ {
		start := time.Now()
		c.MustText(fmt.Sprintf("%s%d", prefix, i), "hello?")
		c.Expect("ack")
		c.ExpectPrompt() // the fallback, then the open question again
		rtts = append(rtts, time.Since(start))
	}
	return rtts
}

func quantile(d []time.Duration, q float64) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

func TestProtect_SlowReader(t *testing.T) {
	// Waiting on the slow client would hold a round trip for up to a whole
	// write timeout; long enough that a busy machine's scheduling delays
	// stay far below the bounds checked (three quarters of it).
	const writeTimeout = 2 * time.Second
	e := mustEnv(t, widget.Config{MsgRate: -1, WriteTimeout: writeTimeout, SendQueue: 16})
	url, hc := smallBufferServer(t, e)
	dial := func(jar http.CookieJar) *widgettest.Client {
		return widgettest.MustDial(t, url, widgettest.Options{Origin: testOrigin, Jar: jar, HTTPClient: hc})
	}

	normal := dial(widgettest.NewJar())
	normal.MustHello(widgettest.Hello{})
	normal.ExpectPrompt()
	before := roundTrips(t, normal, "a", 500*time.Millisecond)

	t.Run("StopsReading", func(t *testing.T) {
		slow := dial(widgettest.NewJar())
		slow.MustHello(widgettest.Hello{})
		// Send turns and never read their answers. The server's writes block
		// once the small buffers are full, then so do these (without a
		// deadline: an expired one would make this client hang up first).
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ; i++ {
				if err := slow.SendRaw(context.Background(), fmt.Appendf(nil, `{"type":"text","id":"s%d","text":"%0100d"}`, i, i)); err != nil {
					return
				}
			}
		})
		during := roundTrips(t, normal, "b", 2*writeTimeout)
		waitFor(t, 3*writeTimeout, "the slow client was not dropped", func() bool { return e.gw.Stats.Closed("slow") >= 1 })
		slow.CloseNow()
		wg.Wait()
		t.Logf("normal client round trips: before p50 %v p99 %v max %v; beside the slow client p50 %v p99 %v max %v (%d)",
			quantile(before, .5), quantile(before, .99), quantile(before, 1),
			quantile(during, .5), quantile(during, .99), quantile(during, 1), len(during))
		if m := quantile(during, 1); m >= writeTimeout*3/4 {
			t.Errorf("a round trip took %v beside the slow client", m)
		}
	})

	t.Run("SlowTab", func(t *testing.T) {
		// Two tabs of one session; the second stops reading. The first
		// tab's turns are broadcast to it until its queue is full.
		b := widgettest.NewJar()
		tab1 := dial(b)
		w := tab1.MustHello(widgettest.Hello{})
		tab1.ExpectPrompt()
		tab2 := dial(b)
		tab2.MustHello(widgettest.Hello{Session: w.Session})
		droppedBefore := e.gw.Stats.Closed("slow")
		rtts := roundTrips(t, tab1, "t", 3*writeTimeout)
		if e.gw.Stats.Closed("slow") == droppedBefore {
			t.Fatal("the tab that stopped reading was not dropped")
		}
		if m := quantile(rtts, 1); m >= writeTimeout*3/4 {
			t.Errorf("a round trip took %v beside the slow tab", m)
		}
		_ = tab2
	})
}

func TestProtect_NoGoroutineLeak(t *testing.T) {
	e := mustEnv(t, widget.Config{MaxConnsPerIP: -1, MsgRate: -1, NewVisitorsPerIP: -1, NewSessionsPerIP: -1})
	// Warm up the store and the HTTP server's own goroutines.
	c := e.dial(widgettest.NewJar())
	c.MustHello(widgettest.Hello{})
	c.Close()
	waitFor(t, 5*time.Second, "warm-up socket still open", func() bool { return e.gw.Stats.ConnectionsOpen.Load() == 0 })
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()

	const cycles, workers = 1000, 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < cycles; i += workers {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				ws, _, err := widgettest.Dial(ctx, e.wsURL(), widgettest.Options{Origin: testOrigin})
				if err != nil {
					cancel()
					t.Error(err)
					return
				}
				switch i % 4 {
				case 0: // gone before hello
					ws.CloseNow()
				case 1: // hello, then a clean close
					ws.SendRaw(ctx, []byte(`{"type":"hello"}`))
					ws.Read(ctx)
					ws.Close()
				case 2: // a turn, then the network drops
					ws.SendRaw(ctx, []byte(`{"type":"hello"}`))
					ws.SendRaw(ctx, []byte(`{"type":"text","id":"x","text":"bye"}`))
					ws.Read(ctx)
					ws.CloseNow()
				case 3: // a frame over the read limit: the server closes with 1009
					ws.SendRaw(ctx, make([]byte, 9<<10))
					ws.Read(ctx)
					ws.CloseNow()
				}
				cancel()
			}
		})
	}
	wg.Wait()
	waitFor(t, 10*time.Second, "sockets still open", func() bool { return e.gw.Stats.ConnectionsOpen.Load() == 0 })
	var now int
	waitFor(t, 10*time.Second, "goroutines leaked", func() bool {
		now = runtime.NumGoroutine()
		return now <= before+2
	})
	t.Logf("goroutines: %d before, %d after %d cycles", before, now, cycles)
}

func TestLimit_IdleFootprint(t *testing.T) {
	// An idle connection holds its reading goroutine, on a stack that
	// neither a turn nor net/http's handler frames have grown (4 KiB), and
	// nothing else: no writer, no ticker.
	e := mustEnv(t, widget.Config{MaxConnsPerIP: -1, MsgRate: -1, NewVisitorsPerIP: -1, NewSessionsPerIP: -1})
	const n = 200
	warm := e.dial(widgettest.NewJar())
	warm.MustHello(widgettest.Hello{})
	warm.ExpectPrompt()
	time.Sleep(3 * time.Second) // the warm-up turn's worker ends
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	for range n {
		c := e.dial(widgettest.NewJar())
		c.MustHello(widgettest.Hello{Page: "http://localhost:5173/"})
		c.ExpectPrompt()
		c.MustChoice("c1", "menu", "demo")
		c.Expect("ack")
		c.ExpectPrompt()
	}
	waitFor(t, 10*time.Second, "goroutines beyond one per connection", func() bool {
		return runtime.NumGoroutine()-g0 == n
	})
	runtime.GC()
	runtime.ReadMemStats(&after)
	stack := float64(after.StackInuse-before.StackInuse) / n
	t.Logf("per idle connection: 1 goroutine, %.0f B of stack (client and server heap: %.0f B)", stack, float64(after.HeapInuse-before.HeapInuse)/n)
	limit := 5.0 * 1024
	if raceEnabled {
		limit *= 2
	}
	if stack > limit {
		t.Errorf("stack per idle connection = %.0f B, want at most %.0f", stack, limit)
	}
}

// lockedBuffer is a log sink the server's goroutines may write at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestProtect_PanicInTurn(t *testing.T) {
	// Sockets are served from goroutines of the gateway's own, which
	// net/http does not guard: a panic in a turn must drop that socket and
	// be logged, and the server must go on serving everyone else.
	var boom atomic.Bool
	var logs lockedBuffer
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := mustEnv(t, widget.Config{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Now: func() time.Time {
			if boom.Load() {
				panic("clock exploded")
			}
			return clock
		},
	})
	victim := e.dial(widgettest.NewJar())
	victim.MustHello(widgettest.Hello{})
	victim.ExpectPrompt()
	other := e.dial(widgettest.NewJar())
	other.MustHello(widgettest.Hello{})
	other.ExpectPrompt()

	boom.Store(true)
	victim.MustText("c1", "hello?")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := victim.Read(ctx); err == nil {
		t.Fatal("the socket whose turn panicked is still open")
	}
	boom.Store(false)
	// The socket closes before the recovering goroutine logs.
	waitFor(t, 5*time.Second, "the panic logged", func() bool {
		return strings.Contains(logs.String(), "panic serving a connection") && strings.Contains(logs.String(), "clock exploded")
	})

	// The other socket and new ones are served as before.
	other.MustText("c1", "still there?")
	if f := other.Expect("ack"); f.Ref != "c1" {
		t.Errorf("ack ref = %q", f.Ref)
	}
	late := e.dial(widgettest.NewJar())
	late.MustHello(widgettest.Hello{})
	late.ExpectPrompt()
}
