package server_test

import (
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// testLease is the job lease of the multi-node tests: renewed every 500 ms.
const testLease = 1500 * time.Millisecond

// sweeps are the periodic jobs every node may run.
var sweeps = []string{"idle", "orphans", "retention"}

// node is one Parley serving on loopback (Serve: its sweeps run).
type node struct {
	s    *server.Server
	base string
	once sync.Once
	done chan error
}

// serveNode opens a Parley from cfg (admin token set, a data directory of
// its own) and serves it until stop or the test's end.
func serveNode(tb testing.TB, cfg server.Config) *node {
	tb.Helper()
	cfg.AdminToken = adminToken
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	s, err := server.Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	n := &node{s: s, base: "http://" + ln.Addr().String(), done: make(chan error, 1)}
	go func() { n.done <- s.Serve(ln) }()
	tb.Cleanup(func() { n.stop(tb) })
	return n
}

// stop shuts the node down gracefully, once.
func (n *node) stop(tb testing.TB) {
	n.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := n.s.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		if err := <-n.done; err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
}

// holders maps each job to the holder of its running lease in the store.
func holders(tb testing.TB, url string) map[string]string {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT job, holder FROM job_leases WHERE expires_at > now()`)
	out := map[string]string{}
	var job, holder string
	_, err = pgx.ForEachRow(rows, []any{&job, &holder}, func() error { out[job] = holder; return nil })
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// runsOf reads parley_job_runs_total{job} of the node ("" when missing).
func runsOf(tb testing.TB, base, job string) string {
	return metric(tb, base, `parley_job_runs_total{job="`+job+`"}`)
}

// TestPostgres_JobsOneNodeAtATime: two nodes on one PostgreSQL store run
// each sweep on one of them: the job's lease names that node, only it
// sweeps (parley_job_runs_total), the other sweeps nothing; stopped, it
// releases the sweeps and the other node takes them over at once.
func TestPostgres_JobsOneNodeAtATime(t *testing.T) {
	url := postgrestest.URL(t)
	cfg := server.Config{Store: url, Jobs: server.JobsConfig{Lease: testLease}, IdleSweep: server.IdleSweepConfig{Every: 50 * time.Millisecond}}
	a := serveNode(t, cfg)
	waitUntil(t, 5*time.Second, "node a running the sweeps", func() bool { return slices.Equal(a.s.Jobs(), sweeps) })
	b := serveNode(t, cfg)
	time.Sleep(2 * testLease) // many renewals, and many asks of b
	if got := b.s.Jobs(); len(got) != 0 {
		t.Fatalf("node b runs %v while a holds the sweeps", got)
	}
	for _, job := range sweeps {
		if h := holders(t, url)[job]; h != a.s.JobNode() {
			t.Errorf("job %s: lease held by %q, want node a (%s)", job, h, a.s.JobNode())
		}
	}
	if got := runsOf(t, a.base, "idle"); got == "" || got == "0" || got == "1" {
		t.Errorf("node a swept idle sessions %s times in 3 s, every 50 ms", got)
	}
	if got := runsOf(t, b.base, "idle"); got != "" {
		t.Errorf("node b swept idle sessions %s times while a held the job", got)
	}
	if !strings.Contains(metric(t, a.base, `parley_job_held{job="idle"}`), "1") {
		t.Error("node a's /metrics lacks parley_job_held{job=\"idle\"} 1")
	}

	stopped := time.Now()
	a.stop(t)
	waitUntil(t, testLease, "node b taking the sweeps over", func() bool { return slices.Equal(b.s.Jobs(), sweeps) })
	t.Logf("node b took the released sweeps %v after node a stopped", time.Since(stopped).Round(time.Millisecond))
	waitUntil(t, 2*time.Second, "node b sweeping", func() bool { return runsOf(t, b.base, "idle") != "" })
	for _, job := range sweeps {
		if h := holders(t, url)[job]; h != b.s.JobNode() {
			t.Errorf("job %s after a stopped: held by %q, want node b", job, h)
		}
	}
}

// TestPostgres_JobsKillNine: the node running the sweeps is the real
// binary, killed with SIGKILL (it releases nothing): the other node takes
// every sweep over once the dead node's leases expire, within the lease
// and one retry of the kill.
func TestPostgres_JobsKillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildParley(t)
	url, addr := postgrestest.URL(t), freeAddr(t)
	p := startChild(t, bin, []string{"PARLEY_ADMIN_TOKEN=" + adminToken, "PARLEY_JOB_LEASE=" + testLease.String()}, nil,
		"serve", "--addr", addr, "--data", t.TempDir(), "--store", url)
	waitHealthy(t, addr)
	waitUntil(t, 5*time.Second, "the child running the sweeps", func() bool { return len(holders(t, url)) == len(sweeps) })
	b := serveNode(t, server.Config{Store: url, Jobs: server.JobsConfig{Lease: testLease}})
	time.Sleep(testLease)
	if got := b.s.Jobs(); len(got) != 0 {
		t.Fatalf("node b runs %v while the child holds the sweeps", got)
	}

	killed := time.Now()
	p.kill9(t)
	waitUntil(t, 2*testLease, "node b taking the sweeps over", func() bool { return slices.Equal(b.s.Jobs(), sweeps) })
	took := time.Since(killed)
	t.Logf("node b took the dead node's sweeps %v after the kill (lease %v)", took.Round(time.Millisecond), testLease)
	if max := testLease + testLease/6 + time.Second; took > max { // (a second for a busy machine)
		t.Errorf("took %v, want within the lease and a retry (%v)", took, max)
	}
}

// TestServeFlags_JobLease: --job-lease and PARLEY_JOB_LEASE set the lease;
// one under a second, or not a duration, is refused with a clear error.
func TestServeFlags_JobLease(t *testing.T) {
	parse := func(args []string, env map[string]string) (*server.Config, error) {
		return server.ParseServeFlags(append(args, "--data", t.TempDir()), func(k string) string { return env[k] }, io.Discard)
	}
	if cfg, err := parse([]string{"--job-lease", "45s"}, nil); err != nil || cfg.Jobs.Lease != 45*time.Second {
		t.Errorf("--job-lease 45s: %+v, %v", cfg, err)
	}
	if cfg, err := parse(nil, map[string]string{"PARLEY_JOB_LEASE": "2s"}); err != nil || cfg.Jobs.Lease != 2*time.Second {
		t.Errorf("PARLEY_JOB_LEASE=2s: %v, %v", cfg.Jobs.Lease, err)
	}
	for _, bad := range []string{"100ms", "soon"} {
		if _, err := parse([]string{"--job-lease", bad}, nil); err == nil {
			t.Errorf("--job-lease %s: no error", bad)
		}
		if _, err := parse(nil, map[string]string{"PARLEY_JOB_LEASE": bad}); err == nil || !strings.Contains(err.Error(), "PARLEY_JOB_LEASE") {
			t.Errorf("PARLEY_JOB_LEASE=%s: %v, want an error naming it", bad, err)
		}
	}
}
