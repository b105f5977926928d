package lease_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/lease"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// ttl is the tests' lease: renewed every 400 ms, given up 800 ms after
// the last renewal asked for (room for a busy machine's database).
const ttl = 1200 * time.Millisecond

// openStore opens a node's own connection to the database at url.
func openStore(tb testing.TB, url string) *postgres.Store {
	tb.Helper()
	st, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// runs records when each node ran the job, and fails the test when two
// ran it at once.
type runs struct {
	tb      testing.TB
	mu      sync.Mutex
	running string // the node running it now
	spans   []span
}

type span struct {
	node       string
	start, end time.Time
}

// job is the job of node: it runs until its context ends.
func (r *runs) job(node string) func(ctx context.Context) {
	return func(ctx context.Context) {
		r.mu.Lock()
		if r.running != "" {
			r.tb.Errorf("%s started the job while %s ran it", node, r.running)
		}
		r.running = node
		r.spans = append(r.spans, span{node: node, start: time.Now()})
		r.mu.Unlock()
		<-ctx.Done()
		r.mu.Lock()
		r.running = ""
		r.spans[len(r.spans)-1].end = time.Now()
		r.mu.Unlock()
	}
}

func (r *runs) snapshot() []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans)
}

// waitFor polls cond for up to d.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	tb.Fatalf("waited %v for %s", d, what)
}

// TestJobs_OneNodeAtATime: two nodes on one store run a job: exactly one
// runs it, for many renewals; when that node stops (releasing the lease)
// the other takes the job at once, well within the TTL.
func TestJobs_OneNodeAtATime(t *testing.T) {
	url := postgrestest.URL(t)
	r := &runs{tb: t}
	a := lease.New(lease.Config{Store: openStore(t, url), Holder: "node-a", TTL: ttl})
	b := lease.New(lease.Config{Store: openStore(t, url), Holder: "node-b", TTL: ttl})
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.Run(ctxA, "sweep", r.job("node-a")) })
	time.Sleep(50 * time.Millisecond) // a asks first
	wg.Go(func() { b.Run(ctxB, "sweep", r.job("node-b")) })
	defer func() { stopA(); stopB(); wg.Wait() }()

	waitFor(t, ttl, "node a running the job", func() bool { return slices.Equal(a.Held(), []string{"sweep"}) })
	for range 12 { // three TTLs: many renewals, one runner
		time.Sleep(ttl / 4)
		if len(b.Held()) != 0 || len(a.Held()) != 1 {
			t.Fatalf("held: a %v, b %v; want a alone", a.Held(), b.Held())
		}
	}
	stopped := time.Now()
	stopA()
	waitFor(t, ttl, "node b taking the job over", func() bool { return slices.Equal(b.Held(), []string{"sweep"}) })
	if took := time.Since(stopped); took > ttl {
		t.Errorf("b took the released job after %v, want within the TTL %v", took, ttl)
	}
	// b holds the lease a moment before its job records its start.
	waitFor(t, ttl, "node b's run to begin", func() bool { return len(r.snapshot()) >= 2 })
	if s := r.snapshot(); len(s) != 2 || s[0].node != "node-a" || s[1].node != "node-b" || s[0].end.After(s[1].start) {
		t.Errorf("runs: %+v; want a, then b after a ended", s)
	}
}

// cuttable is a node's store that can lose the database: once cut, every
// call fails (a node cut off from it, or hanging).
type cuttable struct {
	lease.Store
	cut atomic.Bool
}

var errCut = errors.New("the database is unreachable")

func (c *cuttable) TakeLease(ctx context.Context, job, holder string, ttl time.Duration) (bool, error) {
	if c.cut.Load() {
		<-ctx.Done() // hangs, as a lost connection does, until the caller gives up
		return false, errCut
	}
	return c.Store.TakeLease(ctx, job, holder, ttl)
}

func (c *cuttable) ReleaseLease(ctx context.Context, job, holder string) error {
	if c.cut.Load() {
		return errCut
	}
	return c.Store.ReleaseLease(ctx, job, holder)
}

// TestJobs_HolderCutOff: the node running a job loses the database (its
// renewals hang): it stops the job before its lease expires, and the other
// node starts it only after that, within the TTL and one retry of the
// cut; never both at once.
func TestJobs_HolderCutOff(t *testing.T) {
	url := postgrestest.URL(t)
	r := &runs{tb: t}
	storeA := &cuttable{Store: openStore(t, url)}
	a := lease.New(lease.Config{Store: storeA, Holder: "node-a", TTL: ttl})
	b := lease.New(lease.Config{Store: openStore(t, url), Holder: "node-b", TTL: ttl})
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.Run(ctx, "sweep", r.job("node-a")) })
	time.Sleep(50 * time.Millisecond)
	wg.Go(func() { b.Run(ctx, "sweep", r.job("node-b")) })
	defer func() { stop(); wg.Wait() }()

	waitFor(t, ttl, "node a running the job", func() bool { return len(a.Held()) == 1 })
	time.Sleep(ttl)
	cut := time.Now()
	storeA.cut.Store(true)
	waitFor(t, 3*ttl, "node b taking the job over", func() bool { return len(b.Held()) == 1 })
	if took := time.Since(cut); took > ttl+ttl/6+500*time.Millisecond { // (half a second for a busy machine)
		t.Errorf("b took the job %v after a was cut off; want within the TTL and a retry (%v)", took, ttl+ttl/6)
	}
	if len(a.Held()) != 0 {
		t.Errorf("a still runs the job: %v", a.Held())
	}
	// b holds the lease a moment before its job records its start.
	waitFor(t, ttl, "node b's run to begin", func() bool { return len(r.snapshot()) >= 2 })
	s := r.snapshot()
	if len(s) != 2 || s[0].node != "node-a" || s[1].node != "node-b" || s[0].end.IsZero() || !s[0].end.Before(s[1].start) {
		t.Fatalf("runs: %+v; want a, ended, then b", s)
	}
	t.Logf("a stopped %v after the cut; b started %v after it", s[0].end.Sub(cut), s[1].start.Sub(cut))

	// Back on the database, a waits: b's lease runs.
	storeA.cut.Store(false)
	time.Sleep(ttl)
	if len(a.Held()) != 0 || len(b.Held()) != 1 {
		t.Errorf("after a is back: a %v, b %v; want b alone", a.Held(), b.Held())
	}
}

// TestJobs_OneNode: without a store (Badger, one process) a job runs at
// once and ends with its context; Held says so meanwhile.
func TestJobs_OneNode(t *testing.T) {
	j := lease.New(lease.Config{})
	if j.Shared() {
		t.Fatal("jobs without a store say they are shared")
	}
	ctx, stop := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		j.Run(ctx, "sweep", func(ctx context.Context) { close(started); <-ctx.Done() })
	}()
	<-started
	if !slices.Equal(j.Held(), []string{"sweep"}) {
		t.Errorf("held: %v", j.Held())
	}
	stop()
	<-done
	if len(j.Held()) != 0 {
		t.Errorf("held after the end: %v", j.Held())
	}
}

// TestJobs_LeaseTakenAway: when the store says another node holds the
// lease (its holder was stalled past the TTL and another node took the
// job), the node stops the job at its next renewal and asks again later;
// it gets the job back once that lease expires. A job that returns by
// itself ends Run, and its lease is released.
func TestJobs_LeaseTakenAway(t *testing.T) {
	url := postgrestest.URL(t)
	st := openStore(t, url)
	r := &runs{tb: t}
	a := lease.New(lease.Config{Store: st, Holder: "node-a", TTL: ttl})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx, "sweep", r.job("node-a"))
	}()
	defer func() { stop(); <-done }()
	waitFor(t, ttl, "node a running the job", func() bool { return len(a.Held()) == 1 })

	exec(t, url, `UPDATE job_leases SET holder = 'node-x', expires_at = now() + interval '1 second' WHERE job = 'sweep'`)
	waitFor(t, ttl/3+500*time.Millisecond, "node a stopping the job", func() bool { return len(a.Held()) == 0 })
	if s := r.snapshot(); len(s) != 1 || s[0].end.IsZero() {
		t.Fatalf("runs: %+v; want a's, ended", s)
	}
	waitFor(t, 3*time.Second, "node a taking the job back after node-x's lease", func() bool { return len(a.Held()) == 1 })

	t.Run("JobReturns", func(t *testing.T) {
		ran := make(chan struct{})
		a.Run(context.Background(), "once", func(context.Context) { close(ran) })
		<-ran
		ls, err := st.Leases(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			if l.Job == "once" {
				t.Errorf("the lease of a job that returned is kept: %+v", l)
			}
		}
	})
}

// exec runs sql on its own connection to url.
func exec(tb testing.TB, url, sql string) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatal(err)
	}
}
