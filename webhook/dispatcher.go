// Package webhook delivers the store's webhook outbox (storage/outbox.go)
// to the endpoints the sites' config names: signed as the Standard
// Webhooks spec says, at least once, in order per session, retried with
// exponential backoff, and paused after failing for a day.
package webhook

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/lease"
	"github.com/parley-chat/parley/storage"
)

// Store is the outbox a Dispatcher delivers: either engine serves it.
type Store interface {
	// SetOutbox routes the store's new events to the endpoints.
	SetOutbox(c storage.OutboxConfig)
	Outbox(ctx context.Context, endpoint, after string, limit int) ([]storage.OutboxEntry, error)
	OutboxStats(endpoint string) storage.OutboxStats
	OutboxDone(ctx context.Context, e *storage.OutboxEntry, a *storage.Attempt, st *storage.EndpointState) error
	DeliveryLog(ctx context.Context, endpoint string, limit int) ([]storage.Attempt, error)
	Resend(ctx context.Context, endpoint, id string) (*storage.OutboxEntry, error)
	EndpointState(ctx context.Context, endpoint string) (storage.EndpointState, error)
	SetEndpointState(ctx context.Context, endpoint string, st storage.EndpointState) error
}

var _ Store = (*storage.Store)(nil)

// Config tunes a Dispatcher. Zero values take the defaults.
type Config struct {
	Store Store
	// Timeout bounds one attempt, from dialling to the end of the
	// answer's headers (default 10 s).
	Timeout time.Duration
	// MaxBacklog bounds the events waiting per endpoint
	// (storage.DefaultMaxBacklog).
	MaxBacklog int
	// PauseAfter is how long an endpoint may fail every attempt before it
	// is paused, and how long one event is retried while the endpoint
	// takes others (default 24 h).
	PauseAfter time.Duration
	// Concurrency is how many events of different sessions go to one
	// endpoint at once (default 4).
	Concurrency int
	// BackoffBase is the wait after an event's first failure, doubled
	// after each further one up to BackoffMax (defaults 5 s and 1 h).
	BackoffBase, BackoffMax time.Duration
	// Jobs holds the endpoints' deliveries when nodes share the store:
	// one node at a time delivers an endpoint's outbox (the job
	// "webhook:{site}/{id}"), and reads it every PollEvery for the
	// events other nodes wrote. nil: this node delivers every endpoint.
	Jobs *lease.Jobs
	// PollEvery is how often the node delivering an endpoint looks for
	// events other nodes wrote (default DefaultPollEvery); only with
	// shared Jobs, since this node's own events wake it at once.
	PollEvery time.Duration
	Logger    *slog.Logger
	Now       func() time.Time
}

// Defaults of Config.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultPauseAfter  = 24 * time.Hour
	DefaultBackoffBase = 5 * time.Second
	DefaultBackoffMax  = time.Hour
	DefaultConcurrency = 4
	DefaultPollEvery   = time.Second
)

// closeGrace is how long Close lets the attempts in flight end, so their
// outcome is recorded and no other node sends them again.
const closeGrace = 2 * time.Second

// Dispatcher delivers the outbox: one worker per configured endpoint.
type Dispatcher struct {
	cfg     Config
	clients [2]*http.Client // [0] public addresses only, [1] any address

	// routes is site → event type → endpoint names, swapped whole by
	// SetEndpoints and read on every write of the store.
	routes atomic.Pointer[map[string]map[string][]string]

	// attempts counts attempts by outcome, for the metrics.
	delivered, failed, gaveUp atomic.Int64

	mu      sync.Mutex
	workers map[string]*worker // by endpoint name
	started bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// draining is closed by Close: no attempt begins after it.
	draining  chan struct{}
	drainOnce sync.Once
}

// New returns a dispatcher of cfg.Store's outbox and routes the store's
// events to it. Call SetEndpoints with the config's endpoints and Start.
func New(cfg Config) *Dispatcher {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.PauseAfter <= 0 {
		cfg.PauseAfter = DefaultPauseAfter
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = DefaultBackoffMax
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jobs == nil {
		cfg.Jobs = lease.New(lease.Config{Logger: cfg.Logger}) // every endpoint here
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = DefaultPollEvery
	}
	d := &Dispatcher{cfg: cfg, workers: map[string]*worker{}, draining: make(chan struct{})}
	d.clients[0], d.clients[1] = newClient(false), newClient(true)
	d.ctx, d.cancel = context.WithCancel(context.Background())
	empty := map[string]map[string][]string{}
	d.routes.Store(&empty)
	cfg.Store.SetOutbox(storage.OutboxConfig{Route: d.route, Any: d.routing, MaxBacklog: cfg.MaxBacklog, Notify: d.notify})
	return d
}

// route names the endpoints that want typ on site (storage.OutboxConfig).
func (d *Dispatcher) route(site, typ string) []string {
	return (*d.routes.Load())[site][typ]
}

// routing reports whether any endpoint takes events: without one, a turn
// builds none (storage.OutboxConfig.Any).
func (d *Dispatcher) routing() bool { return len(*d.routes.Load()) > 0 }

// notify wakes the endpoint's worker: it has new events.
func (d *Dispatcher) notify(name string) {
	d.mu.Lock()
	w := d.workers[name]
	d.mu.Unlock()
	if w != nil {
		w.wake()
	}
}

// SetEndpoints makes eps (validated) the endpoints events go to: new ones
// get a worker, changed ones deliver with their new URL and secret from
// their next attempt, and removed ones stop; what waits for a removed
// endpoint stays in the store (and goes out if it comes back).
func (d *Dispatcher) SetEndpoints(eps []Endpoint) {
	routes := map[string]map[string][]string{}
	d.mu.Lock()
	defer d.mu.Unlock()
	keep := map[string]bool{}
	for i := range eps {
		ep := eps[i]
		if ep.key == nil {
			if errs := ep.Validate(); len(errs) > 0 {
				d.cfg.Logger.Error("webhook: endpoint refused", "endpoint", ep.Name(), "err", errs[0])
				continue
			}
		}
		name := ep.Name()
		keep[name] = true
		if routes[ep.Site] == nil {
			routes[ep.Site] = map[string][]string{}
		}
		for _, typ := range ep.Events {
			routes[ep.Site][typ] = append(routes[ep.Site][typ], name)
		}
		w := d.workers[name]
		if w == nil {
			w = newWorker(d, name)
			d.workers[name] = w
			if d.started {
				d.run(w)
			}
		}
		w.ep.Store(&ep)
	}
	for name, w := range d.workers {
		if !keep[name] {
			w.stop()
			delete(d.workers, name)
		}
	}
	d.routes.Store(&routes)
}

// Start starts delivering, until Close.
func (d *Dispatcher) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return
	}
	d.started = true
	for _, w := range d.workers {
		d.run(w)
	}
}

func (d *Dispatcher) run(w *worker) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		w.loop()
	}()
}

// Close stops the workers, letting no new attempt begin. The attempts in
// flight may end for up to closeGrace (2 s), so their outcome is recorded
// and the node that delivers next does not send them again; one still
// running then is cut off (its event stays in the outbox and goes again).
// The endpoints' leases are released, so another node delivers at once.
func (d *Dispatcher) Close() {
	d.drainOnce.Do(func() { close(d.draining) })
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeGrace):
	}
	d.cancel()
	d.wg.Wait()
}

// Attempts returns the delivery attempts made since the start, by outcome
// (storage.OutcomeDelivered, OutcomeFailed, OutcomeGaveUp).
func (d *Dispatcher) Attempts() map[string]int64 {
	return map[string]int64{
		storage.OutcomeDelivered: d.delivered.Load(), storage.OutcomeFailed: d.failed.Load(), storage.OutcomeGaveUp: d.gaveUp.Load(),
	}
}

// backoff is the wait after an event's n-th failure: BackoffBase doubled
// n-1 times, at most BackoffMax, less up to a tenth at random so retries
// of many endpoints spread out.
func (d *Dispatcher) backoff(n int) time.Duration {
	b := d.cfg.BackoffBase
	for i := 1; i < n && b < d.cfg.BackoffMax; i++ {
		b *= 2
	}
	b = min(b, d.cfg.BackoffMax)
	return b - rand.N(b/10+1)
}
