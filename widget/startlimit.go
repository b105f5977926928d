package widget

import (
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/parley-chat/parley/storage"
)

// Why a session start was refused, for the error frame's code, the
// metrics and the usage report. New visitors and new sessions are limited
// per client address (an IPv6 client by its /64, as the connection cap);
// new sessions also per visitor, so naming made-up sessions in hello
// cannot mint them without end.
const (
	refusedVisitorsPerIP      = "visitors_per_ip"
	refusedSessionsPerIP      = "sessions_per_ip"
	refusedSessionsPerVisitor = "sessions_per_visitor"
)

// startRefusedReasons are the reasons in the order of Stats.starts.
var startRefusedReasons = [...]string{refusedVisitorsPerIP, refusedSessionsPerIP, refusedSessionsPerVisitor}

// startLimits are the token buckets for new visitors and new sessions.
type startLimits struct {
	visitorsPerIP      buckets[netip.Addr]
	sessionsPerIP      buckets[netip.Addr]
	sessionsPerVisitor buckets[string]
}

func newStartLimits(cfg *Config) startLimits {
	return startLimits{
		visitorsPerIP:      buckets[netip.Addr]{perMinute: cfg.NewVisitorsPerIP},
		sessionsPerIP:      buckets[netip.Addr]{perMinute: cfg.NewSessionsPerIP},
		sessionsPerVisitor: buckets[string]{perMinute: cfg.NewSessionsPerVisitor},
	}
}

// admitStart takes what a new session costs: for a new visitor a visitor
// and a session of its address, else a session of the visitor and of its
// address. It returns the reason and the wait until a retry can pass when
// a limit is reached. A limit that refuses is checked before the others
// take anything, so an attack cut off by one does not drain the next.
func (l *startLimits) admitStart(ip netip.Addr, visitor string, newVisitor bool, now time.Time) (refused string, wait time.Duration) {
	if newVisitor {
		if wait, ok := l.visitorsPerIP.take(ip, now); !ok {
			return refusedVisitorsPerIP, wait
		}
	} else if wait, ok := l.sessionsPerVisitor.take(visitor, now); !ok {
		return refusedSessionsPerVisitor, wait
	}
	if wait, ok := l.sessionsPerIP.take(ip, now); !ok {
		return refusedSessionsPerIP, wait
	}
	return "", 0
}

// startRefusedText is the error frame's message for a refused start.
var startRefusedText = map[string]string{
	refusedVisitorsPerIP:      "too many new visitors from your network",
	refusedSessionsPerIP:      "too many new conversations from your network",
	refusedSessionsPerVisitor: "too many new conversations",
}

// startRefusedCode is the error frame's code for a refused start.
func startRefusedCode(reason string) string {
	if reason == refusedVisitorsPerIP {
		return "too_many_visitors"
	}
	return "too_many_sessions"
}

// refuseStart answers a hello whose new session a limit refused: an error
// frame with the code and the seconds to wait, counted in the metrics and
// in the usage report as refused; then the reader closes the socket with
// 1008, after which the widget waits at least 30 s to reconnect.
func (c *conn) refuseStart(reason string, wait time.Duration, now time.Time) {
	g, site := c.g, c.site
	g.Stats.countStartRefused(reason)
	g.store.CountRefused(storage.Refusal{
		Site: site.ID, Bot: site.Story.Bot, Version: site.Story.Version, Channel: "web",
		Reason: reason, At: now,
	})
	secs := max(1, int(math.Ceil(wait.Seconds())))
	code := startRefusedCode(reason)
	g.Stats.countError(code)
	c.enqueue(encode(errorFrame{
		Type: "error", Code: code, RetryAfter: secs,
		Message: fmt.Sprintf("%s; please try again in %d s", startRefusedText[reason], secs),
	}))
	c.closeAfterTurn = true
}

// buckets are token buckets by key, each holding up to perMinute tokens
// and refilled at perMinute a minute: a burst of a minute's worth, then a
// steady rate. perMinute < 0 admits everything. A bucket that has filled
// up again is forgotten, at most once a minute, so the map holds only the
// keys active in the last minute or so.
type buckets[K comparable] struct {
	perMinute int

	mu    sync.Mutex
	m     map[K]*bucket
	swept time.Time
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// take takes a token for key at now. When none is left it reports false
// and how long until one is.
func (b *buckets[K]) take(key K, now time.Time) (wait time.Duration, ok bool) {
	if b.perMinute < 0 {
		return 0, true
	}
	burst, perSec := float64(b.perMinute), float64(b.perMinute)/60
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = make(map[K]*bucket)
	}
	if now.Sub(b.swept) >= time.Minute {
		b.sweep(now, burst, perSec)
	}
	bk := b.m[key]
	if bk == nil {
		bk = &bucket{tokens: burst, at: now}
		b.m[key] = bk
	}
	if d := now.Sub(bk.at); d > 0 {
		bk.tokens = min(burst, bk.tokens+d.Seconds()*perSec)
		bk.at = now
	}
	if bk.tokens < 1 {
		return time.Duration((1 - bk.tokens) / perSec * float64(time.Second)), false
	}
	bk.tokens--
	return 0, true
}

// sweep forgets the buckets that are full again; callers hold b.mu.
func (b *buckets[K]) sweep(now time.Time, burst, perSec float64) {
	b.swept = now
	for k, bk := range b.m {
		if bk.tokens+now.Sub(bk.at).Seconds()*perSec >= burst {
			delete(b.m, k)
		}
	}
}
