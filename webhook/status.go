package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley/storage"
)

// Status is what the admin sees of an endpoint: its config (never its
// secret), whether it is paused, and its backlog.
type Status struct {
	Site         string     `json:"site"`
	ID           string     `json:"id"`
	URL          string     `json:"url"`
	Events       []string   `json:"events"`
	AllowPrivate bool       `json:"allowPrivate"`
	Paused       bool       `json:"paused"`
	PausedAt     *time.Time `json:"pausedAt"`
	FailingSince *time.Time `json:"failingSince"`
	LastSuccess  *time.Time `json:"lastSuccessAt"`
	LastFailure  *time.Time `json:"lastFailureAt"`
	Waiting      int        `json:"waiting"`
	Dropped      int64      `json:"dropped"`
}

// ErrUnknownEndpoint is returned for an endpoint the config does not name.
var ErrUnknownEndpoint = errors.New("webhook: no such endpoint")

// Endpoints returns the status of every configured endpoint, by site and ID.
func (d *Dispatcher) Endpoints(ctx context.Context) ([]Status, error) {
	d.mu.Lock()
	names := make([]string, 0, len(d.workers))
	for name := range d.workers {
		names = append(names, name)
	}
	d.mu.Unlock()
	slices.Sort(names)
	out := make([]Status, 0, len(names))
	for _, name := range names {
		st, err := d.Endpoint(ctx, name)
		if errors.Is(err, ErrUnknownEndpoint) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// Endpoint returns the status of the endpoint "site/id", or
// ErrUnknownEndpoint.
func (d *Dispatcher) Endpoint(ctx context.Context, name string) (Status, error) {
	w, err := d.worker(name)
	if err != nil {
		return Status{}, err
	}
	st, err := w.current(ctx)
	if err != nil {
		return Status{}, err
	}
	ep := w.ep.Load()
	bl := d.cfg.Store.OutboxStats(name)
	return Status{
		Site: ep.Site, ID: ep.ID, URL: ep.URL, Events: ep.Events, AllowPrivate: ep.AllowPrivate,
		Paused: !st.PausedAt.IsZero(), PausedAt: timeOrNil(st.PausedAt), FailingSince: timeOrNil(st.FailingSince),
		LastSuccess: timeOrNil(st.LastSuccessAt), LastFailure: timeOrNil(st.LastFailureAt),
		Waiting: bl.Waiting, Dropped: bl.Dropped,
	}, nil
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (d *Dispatcher) worker(name string) (*worker, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w := d.workers[name]; w != nil {
		return w, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownEndpoint, name)
}

// current returns the endpoint's state, read from the store if the worker
// has not yet, or if another node may deliver it (and so change it).
func (w *worker) current(ctx context.Context) (storage.EndpointState, error) {
	w.mu.Lock()
	ready := w.ready
	w.mu.Unlock()
	if !ready || (w.d.cfg.Jobs.Shared() && !w.delivering.Load()) {
		if err := w.load(ctx); err != nil {
			return storage.EndpointState{}, err
		}
	}
	return w.snapshot(), nil
}

// Deliveries returns the endpoint's last attempts, newest first.
func (d *Dispatcher) Deliveries(ctx context.Context, name string, limit int) ([]storage.Attempt, error) {
	if _, err := d.worker(name); err != nil {
		return nil, err
	}
	return d.cfg.Store.DeliveryLog(ctx, name, limit)
}

// Resend sends the event of a logged attempt again, behind what waits for
// the endpoint (storage.Store.Resend's errors). A paused endpoint keeps it
// until it is resumed.
func (d *Dispatcher) Resend(ctx context.Context, name, attemptID string) (*storage.OutboxEntry, error) {
	w, err := d.worker(name)
	if err != nil {
		return nil, err
	}
	e, err := d.cfg.Store.Resend(ctx, name, attemptID)
	if err != nil {
		return nil, err
	}
	w.wake()
	return e, nil
}

// Resume ends a pause: the endpoint gets its waiting events at once, and
// another day before it is paused again.
func (d *Dispatcher) Resume(ctx context.Context, name string) error {
	w, err := d.worker(name)
	if err != nil {
		return err
	}
	if _, err := w.current(ctx); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.state
	st.PausedAt, st.FailingSince = time.Time{}, time.Time{}
	if err := d.cfg.Store.SetEndpointState(ctx, name, st); err != nil {
		return err
	}
	w.state = st
	w.wake()
	return nil
}

// EndpointName joins a site and an endpoint ID as Endpoint.Name does; it
// refuses IDs with a '/'.
func EndpointName(site, id string) (string, bool) {
	if site == "" || id == "" || strings.Contains(site, "/") || strings.Contains(id, "/") {
		return "", false
	}
	return site + "/" + id, true
}
