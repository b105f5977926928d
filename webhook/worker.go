package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/storage"
)

// worker delivers one endpoint's outbox, oldest event first, up to
// Config.Concurrency sessions at once and one event at a time per session.
// A session whose event failed waits (its later events are not sent
// before it); other sessions go on, unless the endpoint itself seems down
// (no answer, 5xx, 408, 429), when the whole endpoint waits for the failed
// event's backoff.
type worker struct {
	d    *Dispatcher
	name string
	ep   atomic.Pointer[Endpoint] // the current config of the endpoint

	kick chan struct{} // wakes the loop: new events, a resume
	quit chan struct{} // closed by stop
	once sync.Once

	mu    sync.Mutex
	state storage.EndpointState // as stored
	ready bool                  // state was read from the store
	// delivering is whether this node delivers the endpoint now (it
	// holds its lease): else another node may change its state.
	delivering atomic.Bool
}

// outboxPage is how many entries a pass reads at a time.
const outboxPage = 100

func newWorker(d *Dispatcher, name string) *worker {
	return &worker{d: d, name: name, kick: make(chan struct{}, 1), quit: make(chan struct{})}
}

func (w *worker) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *worker) stop() { w.once.Do(func() { close(w.quit) }) }

// stopping reports whether the worker was stopped or the dispatcher is
// closing: no attempt begins after that.
func (w *worker) stopping() bool {
	select {
	case <-w.quit:
		return true
	case <-w.d.draining:
		return true
	default:
		return false
	}
}

// Job is the name of the endpoint's delivery among the jobs nodes share
// (package lease).
func Job(endpoint string) string { return "webhook:" + endpoint }

// loop delivers the endpoint's outbox while this node holds its job,
// until stopped. Stopped while it delivers, the attempts in flight end
// first (deliver returns after them); stopped while another node
// delivers, it just ends.
func (w *worker) loop() {
	ctx, cancel := context.WithCancel(w.d.ctx)
	defer cancel()
	go func() {
		select {
		case <-w.quit:
		case <-w.d.draining:
		case <-ctx.Done():
			return
		}
		if !w.delivering.Load() {
			cancel()
		}
	}()
	w.d.cfg.Jobs.Run(ctx, Job(w.name), w.deliver)
}

// deliver runs passes over the outbox until stopped or ctx ends (the
// node lost the endpoint's job): after each, it sleeps until the earliest
// retry is due, it is woken, or, when nodes share the store, PollEvery
// passed (another node may have written events, or resumed the
// endpoint, whose state is therefore read again before each pass).
func (w *worker) deliver(ctx context.Context) {
	w.delivering.Store(true)
	defer w.delivering.Store(false)
	shared := w.d.cfg.Jobs.Shared()
	loaded := false
	for {
		if !loaded || shared {
			if err := w.load(ctx); err != nil && ctx.Err() == nil {
				w.d.cfg.Logger.Error("webhook: reading the endpoint's state failed", "endpoint", w.name, "err", err)
			}
			loaded = true
		}
		next, err := w.pass(ctx)
		if err != nil && ctx.Err() == nil {
			w.d.cfg.Logger.Error("webhook: delivery pass failed", "endpoint", w.name, "err", err)
			next = w.d.cfg.Now().Add(time.Second)
		}
		if poll := w.d.cfg.Now().Add(w.d.cfg.PollEvery); shared && (next.IsZero() || next.After(poll)) {
			next = poll
		}
		if w.stopping() || !w.sleep(ctx, next) {
			return
		}
	}
}

// sleep waits until next (forever when zero) or a wake; false: stopped.
func (w *worker) sleep(ctx context.Context, next time.Time) bool {
	var timer <-chan time.Time
	if !next.IsZero() {
		t := time.NewTimer(max(next.Sub(w.d.cfg.Now()), 0))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-w.quit:
		return false
	case <-w.d.draining:
		return false
	case <-w.kick:
	case <-timer:
	}
	return true
}

func (w *worker) load(ctx context.Context) error {
	st, err := w.d.cfg.Store.EndpointState(ctx, w.name)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.state, w.ready = st, true
	w.mu.Unlock()
	return nil
}

// pass tries every due event once, oldest first, skipping sessions with an
// earlier event still waiting, and returns when the next event falls due
// (zero: nothing waits, or the endpoint is paused). Events of different
// sessions go out up to Concurrency at once; a session's next event only
// after its previous one was taken, in the next pass.
func (w *worker) pass(ctx context.Context) (next time.Time, err error) {
	if st := w.snapshot(); !st.PausedAt.IsZero() {
		return time.Time{}, nil
	}
	p := &passState{blocked: map[string]bool{}, inFlight: map[string]bool{}}
	after := ""
	for {
		page, err := w.d.cfg.Store.Outbox(ctx, w.name, after, outboxPage)
		if err != nil || len(page) == 0 {
			if err == nil {
				err = w.flush(ctx, p)
			}
			if p.deferred && !p.stop {
				p.later(w.d.cfg.Now()) // another pass for them, at once
			}
			return p.next, err
		}
		for i := range page {
			e := &page[i]
			after = e.Key
			if p.inFlight[e.Lane] {
				// Its session's previous event is on its way: this
				// one, and so every later one of the session, goes in
				// the next pass.
				p.deferred, p.blocked[e.Lane] = true, true
				continue
			}
			if p.blocked[e.Lane] {
				continue
			}
			if e.NextAt.After(w.d.cfg.Now()) {
				p.blocked[e.Lane] = true
				p.later(e.NextAt)
				continue
			}
			p.batch = append(p.batch, e)
			p.inFlight[e.Lane] = true
			if len(p.batch) >= w.d.cfg.Concurrency {
				if err := w.flush(ctx, p); err != nil || p.stop {
					return p.next, err
				}
			}
		}
		if err := w.flush(ctx, p); err != nil || p.stop {
			return p.next, err
		}
	}
}

// passState is what a pass knows: sessions held up, the batch on its way,
// the earliest retry, and whether to stop (paused, down, stopped).
type passState struct {
	blocked  map[string]bool // sessions whose earliest event waits for a retry
	inFlight map[string]bool // sessions of the batch
	batch    []*storage.OutboxEntry
	next     time.Time
	stop     bool
	deferred bool // an event waited for its session's in the batch: pass again
}

func (p *passState) later(t time.Time) {
	if p.next.IsZero() || t.Before(p.next) {
		p.next = t
	}
}

// flush sends the batch at once and records each outcome, in the
// outbox's order.
func (w *worker) flush(ctx context.Context, p *passState) error {
	batch := p.batch
	p.batch = p.batch[:0]
	clear(p.inFlight)
	if len(batch) == 0 {
		return nil
	}
	if w.stopping() {
		p.stop = true
		return nil
	}
	ep := w.ep.Load()
	results := make([]sent, len(batch))
	var wg sync.WaitGroup
	for i, e := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			r.start = w.d.cfg.Now()
			r.status, r.err = w.send(ctx, ep, e, r.start)
			r.end = w.d.cfg.Now()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err // shutting down: not the endpoint's fault
	}
	anyDown := false
	for i, e := range batch {
		ok, down, err := w.record(ctx, e, &results[i])
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		anyDown = anyDown || down
		if e.NextAt.IsZero() {
			continue // gave up: the session's next may go
		}
		p.blocked[e.Lane] = true
		p.later(e.NextAt)
	}
	if st := w.snapshot(); !st.PausedAt.IsZero() {
		p.stop, p.next = true, time.Time{}
	} else if anyDown {
		// The endpoint is not answering: everything waits for the
		// failed events' retry rather than piling on.
		p.stop = true
	}
	return nil
}

func (w *worker) snapshot() storage.EndpointState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state
}

// sent is the result of one attempt's request.
type sent struct {
	start, end time.Time
	status     int
	err        error
}

// record writes the outcome of an attempt at e, with the endpoint's new
// state, in one write. ok: delivered; down: the failure says the endpoint
// (not this event) is the trouble.
func (w *worker) record(ctx context.Context, e *storage.OutboxEntry, r *sent) (ok, down bool, err error) {
	start, now, status, sendErr := r.start, r.end, r.status, r.err
	a := &storage.Attempt{
		EventID: e.ID, Type: e.Type, Lane: e.Lane, Visitor: e.Visitor, At: start.UTC(),
		Attempt: e.Attempts + 1, Status: status, TookMs: now.Sub(start).Milliseconds(), Resent: e.Resent, Body: e.Body,
	}
	w.mu.Lock()
	st := w.state
	w.mu.Unlock()
	ok = sendErr == nil
	if ok {
		a.Outcome = storage.OutcomeDelivered
		st.LastSuccessAt, st.FailingSince = now, time.Time{}
	} else {
		a.Error = sendErr.Error()
		down = status == 0 || status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
		e.Attempts++
		if e.FirstFailedAt.IsZero() {
			e.FirstFailedAt = now
		}
		st.LastFailureAt = now
		if st.FailingSince.IsZero() {
			st.FailingSince = now
		}
		switch {
		case now.Sub(e.FirstFailedAt) >= w.d.cfg.PauseAfter && st.LastSuccessAt.After(e.FirstFailedAt):
			// The endpoint took others since, never this one.
			a.Outcome, e.NextAt = storage.OutcomeGaveUp, time.Time{}
			w.d.cfg.Logger.Warn("webhook: gave up on an event after a day", "endpoint", w.name, "event", e.ID, "err", sendErr)
		case now.Sub(st.FailingSince) >= w.d.cfg.PauseAfter:
			// Failing for a day: paused, the event kept for a resume.
			st.PausedAt = now
			a.Outcome, e.NextAt = storage.OutcomeFailed, now
			w.d.cfg.Logger.Warn("webhook: endpoint paused after failing for a day", "endpoint", w.name, "since", st.FailingSince, "err", sendErr)
		default:
			e.NextAt = now.Add(w.d.backoff(e.Attempts))
			a.Outcome, a.NextAt = storage.OutcomeFailed, e.NextAt
		}
	}
	if err := w.d.cfg.Store.OutboxDone(ctx, e, a, &st); err != nil {
		return false, false, err
	}
	switch a.Outcome {
	case storage.OutcomeDelivered:
		w.d.delivered.Add(1)
	case storage.OutcomeGaveUp:
		w.d.gaveUp.Add(1)
	default:
		w.d.failed.Add(1)
	}
	w.mu.Lock()
	w.state = st
	w.mu.Unlock()
	return ok, down, nil
}

// send POSTs the event's body, signed, and returns the status and an
// error for anything but a 2xx answer.
func (w *worker) send(ctx context.Context, ep *Endpoint, e *storage.OutboxEntry, now time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, w.d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(e.Body))
	if err != nil {
		return 0, err
	}
	ts := now.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Parley-Webhooks/1")
	req.Header.Set(HeaderID, e.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(ep.key, e.ID, ts, e.Body))
	client := w.d.clients[0]
	if ep.AllowPrivate {
		client = w.d.clients[1]
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("no answer within %s", w.d.cfg.Timeout)
		}
		return 0, err
	}
	// Read a little, so the connection can be reused; the answer itself
	// means nothing but its status.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			return resp.StatusCode, fmt.Errorf("answered %s, a redirect to %q, which is not followed", resp.Status, loc)
		}
		return resp.StatusCode, fmt.Errorf("answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}
