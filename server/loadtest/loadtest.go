// Package loadtest is `parley loadtest`: simulated visitors on real
// WebSockets that say hello, walk the story and report what the server
// did with them: connections held, latencies, acked messages per second,
// errors and the server's memory per connection, beside a bare
// coder/websocket echo measured in the same run.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parley-chat/parley/widget/widgettest"
)

// Options say what load to make.
type Options struct {
	// Addr is the server, host:port. It is the only address the tool
	// makes load on.
	Addr string
	// MetricsURL is where the server's Prometheus metrics are read, with
	// ?gc=1, for its memory and CPU: default http://Addr/metrics. Parley
	// serves them there only with the admin token, sent as MetricsToken,
	// and without one on its --debug-addr.
	MetricsURL   string
	MetricsToken string

	Site   string // the site to talk to (default "demo")
	Origin string // the Origin header; must be allowed by the site (default "http://localhost")

	Visitors int // simulated visitors (default 10)
	// Rate is the messages each visitor sends per second once welcomed;
	// 0 holds idle connections only, < 0 sends each next message as soon
	// as the previous one is answered (acked and replied to by the bot; by
	// the echo: echoed).
	Rate float64
	// Duration is how long the visitors are held, and send, after the last
	// one connected (default 10 s).
	Duration time.Duration
	// Concurrency bounds the handshakes in flight (default 100);
	// ConnectRate, if set, paces new connections per second.
	Concurrency int
	ConnectRate float64
	// Spread gives each visitor its own source address from this prefix
	// (e.g. 127.0.0.0/8 for a loopback target), so one machine can open
	// more connections than one address has ports. Empty: the system's.
	Spread string
	// Timeout bounds a handshake, a welcome, a write and the wait for an
	// ack and a reply (default 10 s).
	Timeout time.Duration

	// Baseline runs the same visitors against a bare coder/websocket echo
	// afterwards, started by the tool: EchoCommand is the command line of
	// a process running ServeEcho (so its memory is measured alone); empty
	// runs it in this process.
	Baseline    bool
	EchoCommand []string

	// Stalled adds visitors that say hello and then never read again,
	// with a small receive buffer, while sending StalledRate messages per
	// second (default 5): the server must drop them without the others
	// noticing. They are not counted among the visitors.
	Stalled     int
	StalledRate float64

	// Progress, if set, gets a line every few seconds.
	Progress io.Writer
}

func (o *Options) setDefaults() {
	if o.MetricsURL == "" {
		o.MetricsURL = "http://" + o.Addr + "/metrics"
	}
	if o.Site == "" {
		o.Site = "demo"
	}
	if o.Origin == "" {
		o.Origin = "http://localhost"
	}
	if o.Visitors <= 0 {
		o.Visitors = 10
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 100
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.StalledRate <= 0 {
		o.StalledRate = 5
	}
}

// Run makes the load on o.Addr and, with o.Baseline, on the echo, one
// after the other, and reports both. It stops early, saying why, when the
// tool runs out of open files or source ports, or ctx ends.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.setDefaults()
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("loadtest: address %q: want host:port", o.Addr)
	}
	var spread netip.Prefix
	if o.Spread != "" {
		if spread, err = netip.ParsePrefix(o.Spread); err != nil {
			return nil, fmt.Errorf("loadtest: spread %q: %w", o.Spread, err)
		}
		if a, err := netip.ParseAddr(host); err != nil || !a.IsLoopback() || !spread.Addr().IsLoopback() {
			return nil, fmt.Errorf("loadtest: spreading source addresses over %s needs a loopback target and prefix, not %s", o.Spread, host)
		}
	}
	rep, err := runOnce(ctx, o, spread, o.Addr, "/v1/ws?site="+o.Site, false)
	if err != nil || !o.Baseline || ctx.Err() != nil {
		return rep, err
	}
	echo, err := startEcho(o.EchoCommand, host)
	if err != nil {
		return rep, err
	}
	defer echo.stop()
	rep.Baseline, err = runOnce(ctx, o, spread, echo.addr, EchoPath, true)
	return rep, err
}

// run is one pass of the load on one server.
type run struct {
	o      Options
	url    string
	echo   bool
	client *http.Client
	spread netip.Prefix

	connect, welcome, ack, reply Hist
	again                        Hist // a new conversation's hello to its welcome
	acks, sent                   atomic.Int64
	passed                       atomic.Int64 // paced turns passed: the bot had not answered yet
	stopping                     atomic.Bool

	mu       sync.Mutex
	errors   map[string]int64 // error frames by code, and the tool's own failures
	closes   map[string]int64 // sockets lost during the run, by close code or cause
	held     int              // welcomed and not lost
	dropped  int              // welcomed, then lost before the end
	failed   int              // never welcomed
	stalled  Stalled          // visitors that stopped reading
	stopNote string           // why the ramp stopped early
}

type (
	sourceKey  struct{}
	stalledKey struct{}
)

func runOnce(ctx context.Context, o Options, spread netip.Prefix, addr, path string, echo bool) (*Report, error) {
	r := &run{
		o: o, url: "ws://" + addr + path, echo: echo, spread: spread,
		errors: map[string]int64{}, closes: map[string]int64{},
	}
	r.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			if a != addr {
				// The handshake may not be redirected anywhere else.
				return nil, fmt.Errorf("loadtest: refusing to connect to %s: the target is %s", a, addr)
			}
			d := net.Dialer{Timeout: o.Timeout}
			if src, ok := ctx.Value(sourceKey{}).(string); ok {
				d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
			}
			if ctx.Value(stalledKey{}) != nil {
				// A small receive window from the first SYN on, so the
				// server's writes back up soon.
				d.Control = smallReceiveBuffer
			}
			return d.DialContext(ctx, network, a)
		},
		MaxIdleConnsPerHost: -1,
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer r.client.CloseIdleConnections()

	rep := &Report{Server: "parley", Target: addr, Visitors: o.Visitors, Rate: o.Rate, Duration: o.Duration.String()}
	if echo {
		rep.Server = "echo"
	}
	// The echo's metrics are its own; Parley's where the options say.
	m := metricsSource{url: o.MetricsURL, token: o.MetricsToken}
	if echo {
		m = metricsSource{url: "http://" + addr + "/metrics"}
	}
	toolBefore, toolOK := processCPU()
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	before, merr := m.scrape(mctx)
	cancel()
	if merr != nil {
		rep.Notes = append(rep.Notes, "no server memory figures: "+merr.Error())
	}

	visitors := r.ramp(ctx)
	stalled := r.stall(ctx)
	rampEnd := time.Now()
	if r.o.Rate > 0 {
		for _, v := range visitors {
			v.pace()
		}
	} else if r.o.Rate < 0 {
		for _, v := range visitors {
			go v.send()
		}
	}
	r.hold(ctx, rampEnd)
	// Stop sending; the sockets stay open while the server is measured.
	r.stopping.Store(true)
	elapsed := time.Since(rampEnd)

	var after metrics
	if merr == nil {
		r.mu.Lock()
		held := r.held
		r.mu.Unlock()
		if after, merr = m.scrape(ctx); merr != nil {
			rep.Notes = append(rep.Notes, "no server memory figures after the run: "+merr.Error())
		}
		rep.Memory = memoryOf(before, after, held)
	}
	toolAfter, toolAfterOK := processCPU()
	for _, v := range visitors {
		v.close()
	}
	for _, v := range stalled {
		v.close()
	}
	acks := r.acks.Load()

	r.mu.Lock()
	defer r.mu.Unlock()
	rep.Held, rep.Dropped, rep.Failed = r.held, r.dropped, r.failed
	rep.Welcomed = r.held + r.dropped
	rep.Connect, rep.Welcome, rep.Again = r.connect.Summary(), r.welcome.Summary(), r.again.Summary()
	rep.Ack, rep.Reply = r.ack.Summary(), r.reply.Summary()
	rep.Sent, rep.Acked, rep.Passed = r.sent.Load(), acks, r.passed.Load()
	rep.CPU = cpuOf(before, after, acks)
	if toolOK && toolAfterOK {
		rep.ToolCPU = perAcked((toolAfter - toolBefore).Seconds(), acks)
	}
	rep.TurnWait, rep.StoreWrite = serverLatencyOf(before, after, turnWait), serverLatencyOf(before, after, storeWrite)
	rep.SessionStart = serverLatencyOf(before, after, sessionStart)
	if s := elapsed.Seconds(); s > 0 {
		rep.AckedPerSec = float64(acks) / s
	}
	rep.Errors, rep.Closes = r.errors, r.closes
	if r.o.Stalled > 0 {
		st := r.stalled
		st.Count = len(stalled)
		if before != nil && after != nil {
			st.ServerSD = int64(after["parley_slow_clients_dropped_total"] - before["parley_slow_clients_dropped_total"])
		}
		rep.Stalled = &st
	}
	if r.stopNote != "" {
		rep.Notes = append(rep.Notes, r.stopNote)
	}
	return rep, nil
}

// ramp connects the visitors, Concurrency at a time, and returns those
// welcomed. It stops early when the tool cannot open more sockets.
func (r *run) ramp(ctx context.Context) []*visitor {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		visitors []*visitor
		failRun  atomic.Int64 // failures in a row
	)
	sem := make(chan struct{}, r.o.Concurrency)
	var pace *time.Ticker
	if r.o.ConnectRate > 0 {
		pace = time.NewTicker(time.Duration(float64(time.Second) / r.o.ConnectRate))
		defer pace.Stop()
	}
	progress := r.progress("connecting")
	defer progress()
	for i := 0; i < r.o.Visitors && ctx.Err() == nil; i++ {
		if pace != nil {
			select {
			case <-pace.C:
			case <-ctx.Done():
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			v := &visitor{r: r, n: i}
			err := v.connect(ctx)
			if err != nil {
				r.mu.Lock()
				r.failed++
				r.mu.Unlock()
				if ctx.Err() != nil {
					return
				}
				r.countError(failure(err))
				if note := fatal(err); note != "" {
					r.stopRamp(note, stop)
				} else if failRun.Add(1) >= 200 {
					r.stopRamp(fmt.Sprintf("stopped connecting after 200 handshakes in a row failed (last: %v)", err), stop)
				}
				return
			}
			failRun.Store(0)
			r.mu.Lock()
			r.held++
			r.mu.Unlock()
			mu.Lock()
			visitors = append(visitors, v)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	return visitors
}

func (r *run) stopRamp(note string, stop func()) {
	r.mu.Lock()
	if r.stopNote == "" {
		r.stopNote = note
	}
	r.mu.Unlock()
	stop()
}

// hold keeps the visitors for the duration.
func (r *run) hold(ctx context.Context, start time.Time) {
	done := r.progress("running")
	defer done()
	select {
	case <-ctx.Done():
	case <-time.After(r.o.Duration - time.Since(start)): // start: the end of the ramp
	}
}

// progress prints a line every 5 s until the returned function is called.
func (r *run) progress(phase string) (stop func()) {
	if r.o.Progress == nil {
		return func() {}
	}
	t := time.NewTicker(5 * time.Second)
	quit := make(chan struct{})
	go func() {
		start, last := time.Now(), r.acks.Load()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				r.mu.Lock()
				held, failed, dropped := r.held, r.failed, r.dropped
				r.mu.Unlock()
				acks := r.acks.Load()
				fmt.Fprintf(r.o.Progress, "%s %s %3.0fs: held %d, failed %d, dropped %d, acked %.0f/s\n",
					r.url, phase, now.Sub(start).Seconds(), held, failed, dropped, float64(acks-last)/5)
				last = acks
			}
		}
	}()
	return func() { t.Stop(); close(quit) }
}

// lost records a welcomed socket that closed before the end.
func (r *run) lost(v *visitor, err error, welcomed bool) {
	cause := "closed"
	if code := widgettest.CloseStatus(err); code != -1 {
		cause = fmt.Sprintf("%d %s", int(code), code)
	} else if errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF") {
		cause = "eof"
	} else if errors.Is(err, syscall.ECONNRESET) {
		cause = "reset"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closes[cause]++
	if welcomed {
		r.held--
		r.dropped++
	}
}

func (r *run) countError(code string) {
	r.mu.Lock()
	r.errors[code]++
	r.mu.Unlock()
}

// source is visitor n's source address, or "" for the system's choice.
func (r *run) source(n int) string {
	if !r.spread.IsValid() {
		return ""
	}
	// Skip the prefix's first addresses (127.0.0.0 and the usual 127.0.0.1).
	a := r.spread.Masked().Addr().As4()
	base := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	size := uint32(1) << (32 - r.spread.Bits())
	off := uint32(n)%(size-2) + 2
	x := base + off
	return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}).String()
}

// failure names a failed handshake for the report.
func failure(err error) string {
	switch {
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "tool_open_file_limit"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "tool_no_source_port"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection_reset"
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "timeout"), strings.Contains(err.Error(), "in time"):
		return "timeout"
	case strings.HasPrefix(err.Error(), "handshake: "):
		return "http_" + strings.Fields(strings.TrimPrefix(err.Error(), "handshake: "))[0]
	}
	return "dial_error"
}

// fatal explains a failure after which connecting more is pointless.
func fatal(err error) string {
	switch {
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return fmt.Sprintf("stopped connecting: this process hit its open-file limit (%s); one process holds about that many sockets, so run several load-tool processes for more", fileLimit())
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "stopped connecting: no free source port; spread the source addresses (--spread 127.0.0.0/8 for a loopback target)"
	}
	return ""
}
