package widget_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

// helloFrom opens a socket as a client at ip (the X-Test-IP header),
// with b's cookies when b is not nil, and says hello. It returns the
// welcome, or the error frame of a refused hello after checking that the
// socket then closes with 1008.
func (e *env) helloFrom(ip string, b http.CookieJar, hello widgettest.Hello) widgettest.Frame {
	e.tb.Helper()
	c := widgettest.MustDial(e.tb, e.wsURL(), widgettest.Options{Origin: testOrigin, Jar: b, Header: http.Header{"X-Test-IP": {ip}}})
	defer c.CloseNow()
	c.MustSendHello(hello)
	f := c.Next()
	if f.Type == "error" {
		_, err := readUntilClose(e.tb, c.Conn)
		if got := widgettest.CloseStatus(err); got != widgettest.StatusPolicy {
			e.tb.Fatalf("after a refused hello: %v, want close 1008", err)
		}
	}
	return f
}

func testIP(r *http.Request) string { return r.Header.Get("X-Test-IP") }

// The refused hello's error frame says when to try again.
func TestStartLimits_RetryAfterOnTheWire(t *testing.T) {
	e := mustEnv(t, widget.Config{NewVisitorsPerIP: 1, ClientIP: testIP})
	e.helloFrom("192.0.2.1", nil, widgettest.Hello{})
	c := widgettest.MustDial(t, e.wsURL(), widgettest.Options{Origin: testOrigin, Header: http.Header{"X-Test-IP": {"192.0.2.1"}}})
	c.MustSendRaw([]byte(`{"type":"hello"}`))
	// One a minute: the next is due in 60 s.
	if f := c.Next(); f.Code != "too_many_visitors" || f.RetryAfter != 60 {
		t.Fatalf("refused hello got %+v, want too_many_visitors with retryAfter 60", f)
	}
}

func TestStartLimits_NewVisitorsPerIP(t *testing.T) {
	// One address minting visitors in a loop is cut off at the bound; the
	// others, IPv4 or another /64, are not; an IPv6 client counts by /64.
	e := mustEnv(t, widget.Config{NewVisitorsPerIP: 5, ClientIP: testIP})
	started, refused := 0, 0
	for i := range 12 {
		f := e.helloFrom("192.0.2.7", nil, widgettest.Hello{})
		switch {
		case f.Type == "welcome" && i < 5:
			started++
		case f.Type == "error" && i >= 5 && f.Code == "too_many_visitors" && strings.Contains(f.Message, "try again in"):
			refused++
		default:
			t.Fatalf("hello %d from the minting address got %+v", i, f)
		}
	}
	if f := e.helloFrom("192.0.2.8", nil, widgettest.Hello{}); f.Type != "welcome" {
		t.Fatalf("another address got %+v, want welcome", f)
	}
	started++
	for i := range 6 {
		f := e.helloFrom(fmt.Sprintf("2001:db8:1:2::%x", i+1), nil, widgettest.Hello{})
		if want := i < 5; (f.Type == "welcome") != want {
			t.Fatalf("IPv6 hello %d of one /64 got %+v", i, f)
		}
		if f.Type == "welcome" {
			started++
		} else {
			refused++
		}
	}
	if f := e.helloFrom("2001:db8:1:3::1", nil, widgettest.Hello{}); f.Type != "welcome" {
		t.Fatalf("another /64 got %+v, want welcome", f)
	}
	started++

	// A known visitor from the cut-off address still resumes and talks.
	b := widgettest.NewJar()
	e.clock.Advance(time.Minute)
	w := e.helloFrom("192.0.2.7", b, widgettest.Hello{})
	if w.Type != "welcome" {
		t.Fatalf("a minute later got %+v, want welcome", w)
	}
	started++
	for range 10 { // the minute's other four, then refused again
		if e.helloFrom("192.0.2.7", nil, widgettest.Hello{}).Type == "welcome" {
			started++
		} else {
			refused++
		}
	}
	if f := e.helloFrom("192.0.2.7", b, widgettest.Hello{Session: w.Session}); f.Type != "welcome" || f.Resumed == nil || !*f.Resumed {
		t.Fatalf("the known visitor's resume got %+v", f)
	}

	if started != 17 || refused != 14 {
		t.Fatalf("%d started and %d refused, want 17 and 14", started, refused)
	}
	if got := e.gw.Stats.StartsRefused("visitors_per_ip"); got != int64(refused) {
		t.Fatalf("metric visitors_per_ip = %d, want %d", got, refused)
	}
	// What server/metrics exports as parley_starts_refused_total.
	if got, ok := e.gw.Stats.StartsRefusedByReason()["visitors_per_ip"]; !ok || got != int64(refused) {
		t.Fatalf("starts refused by reason visitors_per_ip = %d (listed %v), want %d", got, ok, refused)
	}
	checkUsage(t, e, int64(started), int64(refused))
}

func TestStartLimits_SessionsPerVisitor(t *testing.T) {
	// One visitor naming made-up sessions is cut off; its live session
	// still resumes, and another visitor on the same address is unaffected.
	e := mustEnv(t, widget.Config{NewSessionsPerVisitor: 3, ClientIP: testIP})
	b := widgettest.NewJar()
	first := e.helloFrom("192.0.2.9", b, widgettest.Hello{})
	if first.Type != "welcome" {
		t.Fatalf("first hello got %+v", first)
	}
	started, refused := 1, 0
	for i := range 8 {
		f := e.helloFrom("192.0.2.9", b, widgettest.Hello{Session: fmt.Sprintf("made-up-%d", i)})
		switch {
		case f.Type == "welcome" && i < 3 && !*f.Resumed:
			started++
		case f.Type == "error" && i >= 3 && f.Code == "too_many_sessions":
			refused++
		default:
			t.Fatalf("made-up session %d got %+v", i, f)
		}
	}
	if f := e.helloFrom("192.0.2.9", widgettest.NewJar(), widgettest.Hello{}); f.Type != "welcome" {
		t.Fatalf("another visitor on the address got %+v", f)
	}
	started++
	if got := e.gw.Stats.StartsRefused("sessions_per_visitor"); got != int64(refused) {
		t.Fatalf("metric sessions_per_visitor = %d, want %d", got, refused)
	}
	checkUsage(t, e, int64(started), int64(refused))
}

func TestStartLimits_SessionsPerIP(t *testing.T) {
	e := mustEnv(t, widget.Config{NewSessionsPerIP: 4, ClientIP: testIP})
	b := widgettest.NewJar()
	for i := range 6 {
		f := e.helloFrom("192.0.2.10", b, widgettest.Hello{Session: fmt.Sprintf("made-up-%d", i)})
		if want := i < 4; (f.Type == "welcome") != want || (!want && f.Code != "too_many_sessions") {
			t.Fatalf("hello %d got %+v", i, f)
		}
	}
	if got := e.gw.Stats.StartsRefused("sessions_per_ip"); got != 2 {
		t.Fatalf("metric sessions_per_ip = %d, want 2", got)
	}
	checkUsage(t, e, 4, 2)
}

// checkUsage checks that the usage report of today counts the sessions
// started and, apart, the refused ones, also after they are stored.
func checkUsage(t *testing.T, e *env, started, refused int64) {
	t.Helper()
	day := e.clock.Now().Truncate(24 * time.Hour)
	for _, flush := range []bool{false, true} {
		if flush {
			if err := e.store.FlushRefused(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		r, err := e.store.Usage(context.Background(), storage.UsageQuery{From: day, To: day.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if r.Total != started || r.Refused != refused || r.RefusedDays[0].Count != refused {
			t.Fatalf("usage (flushed %v): %d sessions, %d refused; want %d and %d", flush, r.Total, r.Refused, started, refused)
		}
	}
}
