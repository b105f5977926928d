package widget

import (
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/coder/websocket"
)

// PeerIP returns the address of the TCP peer of r: the default
// Config.ClientIP, right when clients connect directly.
func PeerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ipKey is the per-address cap's key for a client address (see AddrKey).
// An address that does not parse counts as the TCP peer's.
func ipKey(s string, r *http.Request) netip.Addr {
	if a, ok := AddrKey(s); ok {
		return a
	}
	a, _ := AddrKey(PeerIP(r))
	return a
}

// AddrKey is what a per-address limit counts a client address by: the
// address itself for IPv4, its /64 for IPv6 (one household or phone gets
// a whole /64). ok is false when addr does not parse.
func AddrKey(addr string) (key netip.Addr, ok bool) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Addr{}, false
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr(), true
		}
	}
	return a, true
}

// allow takes a token from the connection's bucket, refilled at MsgRate
// per second up to MsgBurst. Only the reading goroutine calls it.
func (c *conn) allow(now int64) bool {
	cfg := &c.g.cfg
	if cfg.MsgRate < 0 {
		return true
	}
	c.tokens += float64(now-c.refilled) * cfg.MsgRate / float64(time.Second)
	c.refilled = now
	if burst := float64(cfg.MsgBurst); c.tokens > burst {
		c.tokens = burst
	}
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// keepalive is the gateway's one timer for all its connections: every tick
// it closes sockets that never said hello and dead peers, and pings the
// quiet ones. No connection owns a goroutine or ticker for this.
func (g *Gateway) keepalive() {
	cfg := &g.cfg
	tick := min(cfg.PingInterval, cfg.HandshakeTimeout, cfg.IdleTimeout, cfg.WriteTimeout) / 4
	tick = max(10*time.Millisecond, min(tick, time.Second))
	t := time.NewTicker(tick)
	defer t.Stop()
	var due []sweepAction
	flushed := time.Now()
	for {
		select {
		case <-g.baseCtx.Done():
			return
		case now := <-t.C:
			if now.Sub(flushed) >= refusedFlushEvery {
				flushed = now
				g.flushRefused()
			}
			due = g.sweep(due[:0])
			for i, a := range due {
				a.do()
				due[i] = sweepAction{}
			}
		}
	}
}

// refusedFlushEvery is how often refused starts counted in memory are
// stored (storage.Store.CountRefused): one small write, however many.
const refusedFlushEvery = 10 * time.Second

func (g *Gateway) flushRefused() {
	if err := g.store.FlushRefused(g.baseCtx); err != nil {
		g.cfg.Logger.Warn("storing refused session starts", "err", err)
	}
}

type sweepAction struct {
	c    *conn
	kind int8
}

const (
	sweepHelloTimeout int8 = iota + 1
	sweepIdle
	sweepWriteTimeout
	sweepPing
	sweepTrim
)

// cacheIdle is how long a session's sockets must be quiet before its
// cached record is dropped, leaving an idle visitor only its socket.
const cacheIdle = 10 * time.Second

// sweep collects, under g.mu, the connections that need an action now.
func (g *Gateway) sweep(due []sweepAction) []sweepAction {
	cfg := &g.cfg
	now := g.mono()
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.conns {
		flags := c.flags.Load()
		if flags&flagClosing != 0 {
			continue
		}
		silent := time.Duration(now - c.lastRead.Load())
		writing := c.writeSince.Load()
		switch {
		case flags&flagHello == 0 && time.Duration(now-c.opened) > cfg.HandshakeTimeout:
			due = append(due, sweepAction{c, sweepHelloTimeout})
		case writing != 0 && time.Duration(now-writing) > cfg.WriteTimeout:
			due = append(due, sweepAction{c, sweepWriteTimeout})
		case silent > cfg.IdleTimeout:
			due = append(due, sweepAction{c, sweepIdle})
		case silent > cfg.PingInterval && flags&flagPinging == 0:
			due = append(due, sweepAction{c, sweepPing})
		case silent > cacheIdle && flags&(flagCached|flagHello) == flagCached|flagHello:
			due = append(due, sweepAction{c, sweepTrim})
		}
	}
	return due
}

func (a sweepAction) do() {
	c := a.c
	switch a.kind {
	case sweepHelloTimeout:
		c.g.Stats.countClosed(closedHelloTimeout)
		c.closeWith(websocket.StatusPolicyViolation, "no hello in time")
	case sweepIdle:
		c.g.Stats.countClosed(closedIdle)
		c.closeDead()
	case sweepWriteTimeout:
		// The client stopped reading: closing the socket ends the write.
		c.g.Stats.SlowDropped.Add(1)
		c.g.Stats.countClosed(closedSlow)
		c.closeDead()
	case sweepPing:
		if c.setFlag(flagPinging) {
			go c.ping()
		}
	case sweepTrim:
		// c.live was set before flagHello; a new session may have
		// replaced it since, and trimming either is harmless.
		c.flags.And(^flagCached)
		if ls := c.live.Load(); ls != nil {
			ls.trim()
		}
	}
}
