package storage

import (
	"sync"
	"sync/atomic"
)

// Backlog is the webhook outbox's routing and backlog counts, the same
// for both engines: which endpoints want an event (OutboxConfig), how
// many events wait for each endpoint, and how many were dropped past
// MaxBacklog. A write reserves room for its events before it commits
// (Reserve, Reservation.Take) and gives it back if the write fails.
type Backlog struct {
	cfg atomic.Pointer[OutboxConfig]

	mu      sync.Mutex
	counts  map[string]int   // events waiting per endpoint, committed or reserved
	dropped map[string]int64 // events dropped past MaxBacklog since Open
}

// SetConfig routes the events written from now on as c says.
func (b *Backlog) SetConfig(c OutboxConfig) {
	if c.MaxBacklog <= 0 {
		c.MaxBacklog = DefaultMaxBacklog
	}
	b.cfg.Store(&c)
}

// Config is the routing, nil before SetConfig.
func (b *Backlog) Config() *OutboxConfig { return b.cfg.Load() }

// Routed reports whether events are routed at all, so a store without
// webhooks, or whose endpoints are all gone, derives none.
func (b *Backlog) Routed() bool {
	c := b.cfg.Load()
	return c != nil && c.Route != nil && (c.Any == nil || c.Any())
}

// Route returns the endpoints that want events of type typ on site.
func (b *Backlog) Route(site, typ string) []string {
	if c := b.cfg.Load(); c != nil && c.Route != nil {
		return c.Route(site, typ)
	}
	return nil
}

// MaxBacklog is the bound on the events waiting for one endpoint.
func (b *Backlog) MaxBacklog() int {
	if c := b.cfg.Load(); c != nil {
		return c.MaxBacklog
	}
	return DefaultMaxBacklog
}

// Recount sets the waiting events per endpoint to counts, as read from
// the store.
func (b *Backlog) Recount(counts map[string]int) {
	b.mu.Lock()
	b.counts = counts
	b.mu.Unlock()
}

// Left counts n events off the endpoint's backlog: delivered, or given
// up (n < 0 adds them: an event sent again).
func (b *Backlog) Left(endpoint string, n int) {
	b.mu.Lock()
	if b.counts != nil {
		b.counts[endpoint] = max(b.counts[endpoint]-n, 0)
	}
	b.mu.Unlock()
}

// Stats returns the endpoint's backlog as counted here.
func (b *Backlog) Stats(endpoint string) OutboxStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return OutboxStats{Waiting: b.counts[endpoint], Dropped: b.dropped[endpoint]}
}

// Reserve begins the reservation of one write's events.
func (b *Backlog) Reserve() *Reservation { return &Reservation{b: b} }

// Reservation is the events one write added to the outbox: release them
// if the write fails, announce them once it committed.
type Reservation struct {
	b         *Backlog
	endpoints []string
}

// Take reserves room for one event for the endpoint and reports true, or
// reports false when the endpoint already has limit events waiting;
// count says whether such an event is counted as dropped (a new event:
// yes; an admin's resend, refused with an error: no).
func (r *Reservation) Take(endpoint string, limit int, count bool) bool {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.counts == nil {
		b.counts = map[string]int{}
	}
	if b.counts[endpoint] >= limit {
		if count {
			if b.dropped == nil {
				b.dropped = map[string]int64{}
			}
			b.dropped[endpoint]++
		}
		return false
	}
	b.counts[endpoint]++
	r.endpoints = append(r.endpoints, endpoint)
	return true
}

// Release gives back the backlog the failed write took.
func (r *Reservation) Release() {
	if r == nil || len(r.endpoints) == 0 {
		return
	}
	r.b.mu.Lock()
	for _, ep := range r.endpoints {
		r.b.counts[ep]--
	}
	r.b.mu.Unlock()
	r.endpoints = nil
}

// Committed tells the dispatcher of the new events.
func (r *Reservation) Committed() {
	if r == nil || len(r.endpoints) == 0 {
		return
	}
	if c := r.b.cfg.Load(); c != nil && c.Notify != nil {
		for i, ep := range r.endpoints {
			if i == 0 || ep != r.endpoints[i-1] {
				c.Notify(ep)
			}
		}
	}
}
