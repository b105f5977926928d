// Package lease runs periodic jobs on one node at a time when several
// Parley nodes share a store: a job runs on the node that holds its lease
// in the store and renews it while the job runs. A node that stops
// releases its leases; one that dies, or loses the store, lets them
// expire, and another node takes the jobs over. Without a shared store
// (Badger: one process) every job simply runs.
//
// A job is never run by two nodes at once: a node renews its lease a
// third of the way through it, and when it cannot renew in time it stops
// the job (ends its context and waits for it) a renewal interval before
// the lease expires, measured from when it asked for the lease, which is
// no later than the store's clock started it. A job must therefore end
// promptly when its context does.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"
)

// Store keeps the leases: storage/postgres's job_leases.
type Store interface {
	// TakeLease takes job's lease for holder until ttl from now by the
	// store's clock, or renews it when holder has it; false when another
	// holder's lease has not expired.
	TakeLease(ctx context.Context, job, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease frees job's lease if holder has it.
	ReleaseLease(ctx context.Context, job, holder string) error
}

// DefaultTTL is how long a lease lasts unless renewed: how long a dead
// node's jobs wait before another node takes them.
const DefaultTTL = 30 * time.Second

// Config is what Jobs needs. The zero value runs every job (one node).
type Config struct {
	// Store keeps the leases; nil: one node, every job runs here.
	Store Store
	// Holder names this node in the leases (NewHolder); it must differ
	// between nodes.
	Holder string
	// TTL is how long a lease lasts unless renewed (default DefaultTTL);
	// it is renewed every TTL / 3.
	TTL    time.Duration
	Logger *slog.Logger
}

// Jobs runs this node's share of the periodic jobs.
type Jobs struct {
	cfg   Config
	renew time.Duration // TTL / 3: between renewals, and a job's time to stop

	mu   sync.Mutex
	held map[string]bool // the jobs running here now
}

// New returns the jobs of the node cfg.Holder.
func New(cfg Config) *Jobs {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Holder == "" {
		cfg.Holder = NewHolder("")
	}
	return &Jobs{cfg: cfg, renew: cfg.TTL / 3, held: map[string]bool{}}
}

// NewHolder returns a name for this node that no other node has: name
// (the host's name when empty), for the operator who reads job_leases,
// and 64 random bits.
func NewHolder(name string) string {
	b := make([]byte, 8)
	rand.Read(b)
	if name == "" {
		name, _ = os.Hostname()
	}
	if name == "" {
		name = "parley"
	}
	return name + "-" + hex.EncodeToString(b)
}

// Holder is this node's name in the leases.
func (j *Jobs) Holder() string { return j.cfg.Holder }

// Shared reports whether the jobs are shared with other nodes (a store
// keeps the leases).
func (j *Jobs) Shared() bool { return j.cfg.Store != nil }

// Held lists the jobs running on this node now, sorted.
func (j *Jobs) Held() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]string, 0, len(j.held))
	for job := range j.held {
		out = append(out, job)
	}
	slices.Sort(out)
	return out
}

func (j *Jobs) setHeld(job string, held bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if held {
		j.held[job] = true
	} else {
		delete(j.held, job)
	}
}

// Run runs fn while this node holds job's lease, until ctx ends or fn
// returns by itself. fn's context ends when ctx does or when the lease
// could not be renewed in time (then Run waits for fn to return and tries
// to take the lease again, as it does every TTL / 6 while another node
// holds it). Without a store fn runs at once with ctx. Run releases the
// lease when it returns.
func (j *Jobs) Run(ctx context.Context, job string, fn func(ctx context.Context)) {
	if j.cfg.Store == nil {
		j.setHeld(job, true)
		defer j.setHeld(job, false)
		fn(ctx)
		return
	}
	for {
		if over := j.hold(ctx, job, fn); over {
			return
		}
		// Another node has it, or the store did not answer: ask again
		// soon, spread so that nodes do not ask in step.
		wait := j.renew/2 - mrand.N(j.renew/10+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// hold takes job's lease and, if it got it, runs fn while renewing the
// lease; over reports that Run is done (ctx ended, or fn returned).
func (j *Jobs) hold(ctx context.Context, job string, fn func(ctx context.Context)) (over bool) {
	asked := time.Now()
	tctx, cancel := context.WithTimeout(ctx, j.renew)
	ok, err := j.cfg.Store.TakeLease(tctx, job, j.cfg.Holder, j.cfg.TTL)
	cancel()
	if ctx.Err() != nil {
		return true
	}
	if err != nil || !ok {
		if err != nil {
			j.cfg.Logger.Debug("jobs: cannot ask for a lease", "job", job, "err", err)
		}
		return false
	}
	// The lease runs until asked+TTL at the earliest, whatever the
	// store's clock says: the store started it after we asked.
	valid := asked.Add(j.cfg.TTL)
	jobCtx, stop := context.WithCancel(ctx)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		fn(jobCtx)
	}()
	j.setHeld(job, true)
	j.cfg.Logger.Info("jobs: running a job here", "job", job, "node", j.cfg.Holder)
	defer func() {
		stop()
		<-finished
		j.setHeld(job, false)
		if over {
			j.release(job)
		}
	}()
	timer := time.NewTimer(j.renew)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-finished:
			return true
		case <-timer.C:
		}
		// Give up a renewal interval before the lease may expire, so
		// the job has that long to stop before another node starts it.
		giveUp := valid.Add(-j.renew)
		asked := time.Now()
		rctx, cancel := context.WithDeadline(ctx, giveUp)
		ok, err := j.cfg.Store.TakeLease(rctx, job, j.cfg.Holder, j.cfg.TTL)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true
		case err == nil && ok:
			valid = asked.Add(j.cfg.TTL)
			timer.Reset(j.renew)
		case err == nil:
			j.cfg.Logger.Warn("jobs: another node took a job over", "job", job, "node", j.cfg.Holder)
			return false
		case !time.Now().Before(giveUp):
			j.cfg.Logger.Error("jobs: cannot renew a job's lease; stopping it here so that another node may take it", "job", job, "err", err)
			return false
		default:
			timer.Reset(min(time.Second, j.renew/4))
		}
	}
}

// release frees job's lease so another node need not wait for it to
// expire; a failure only means they wait.
func (j *Jobs) release(job string) {
	ctx, cancel := context.WithTimeout(context.Background(), j.renew)
	defer cancel()
	if err := j.cfg.Store.ReleaseLease(ctx, job, j.cfg.Holder); err != nil {
		j.cfg.Logger.Warn("jobs: cannot release a job's lease; another node takes it when it expires", "job", job, "err", err)
	}
}
