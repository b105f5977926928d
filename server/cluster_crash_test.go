package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/natsbus/natstest"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
	"github.com/parley-chat/parley/widget/widgettest"
)

// TestCluster_KillNine runs three Parley processes on one PostgreSQL and
// one NATS server behind HAProxy (the deployment example's config) while
// visitors chat through HAProxy, and kills a node with SIGKILL at random
// moments, restarting it. The visitors on a killed node reconnect through
// HAProxy to another and resume, and their sessions move to a live node
// once the dead one's lease passed. Every acked message and 201-answered
// upload must be stored exactly once, and parley check must find the
// store whole. In each round a probe session owned by the node killed,
// with a tab on another node, must answer that tab within 10 s of the
// kill. PARLEY_CRASH_ROUNDS sets the rounds.
func TestCluster_KillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	rounds := crashRounds(t)
	bin := buildParley(t)
	url, data, nats := postgrestest.URL(t), t.TempDir(), natstest.Start(t)
	env := []string{"PARLEY_ADMIN_TOKEN=" + adminToken}
	var addrs []string
	args := func(i int) []string {
		return []string{"serve", "--addr", addrs[i], "--data", data, "--store", url, "--bus", nats.URL(),
			"--node-name", fmt.Sprintf("node-%d", i), "--node-lease", "3s", "--msg-rate", "-1", "--max-conns-per-ip", "-1"}
	}
	nodes := make([]*child, 3)
	for i := range nodes {
		addrs = append(addrs, freeAddr(t))
		nodes[i] = startChild(t, bin, env, nil, args(i)...)
		waitHealthy(t, addrs[i]) // the first writes the visitor key the others read
	}
	balancer := startHAProxy(t, addrs...)

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	t.Logf("rounds %d, seed %d", rounds, seed)
	var dead atomic.Bool
	stopChat := chatters("http://"+balancer, 9, &dead)
	var slowest time.Duration
	for range rounds {
		time.Sleep(time.Duration(1000+rng.IntN(1500)) * time.Millisecond)
		i := rng.IntN(len(nodes))
		// A probe: a session the node to be killed owns, with a second tab
		// on another node, which talks once the owner is dead.
		jar := widgettest.NewJar()
		owned := widgettest.MustDial(t, widgettest.URL("http://"+addrs[i], "demo"), widgettest.Options{Origin: testOrigin, Jar: jar})
		w := owned.MustHello(widgettest.Hello{})
		owned.UntilPrompt("menu")
		other := widgettest.MustDial(t, widgettest.URL("http://"+addrs[(i+1)%len(nodes)], "demo"), widgettest.Options{Origin: testOrigin, Jar: jar})
		other.MustHello(widgettest.Hello{Session: w.Session})
		nodes[i].kill9(t)
		start := time.Now()
		other.MustChoice("probe", "menu", "demo")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ack, err := other.Await(ctx, "ack")
		cancel()
		took := time.Since(start)
		if err != nil || ack.Ref != "probe" {
			t.Fatalf("the probe's turn after its owner was killed: %+v, %v after %v", ack, err, took)
		}
		slowest = max(slowest, took)
		other.Close()
		time.Sleep(time.Duration(500+rng.IntN(3000)) * time.Millisecond)
		nodes[i] = startChild(t, bin, env, nil, args(i)...)
		waitHealthy(t, addrs[i])
	}
	time.Sleep(2 * time.Second)
	clients := stopChat()
	t.Logf("the slowest takeover of a killed node's session: %v (lease 3s)", slowest)
	if slowest > 10*time.Second {
		t.Errorf("a killed node's session moved after %v, want within 10 s", slowest)
	}
	for i, n := range nodes {
		if out := n.out.String(); strings.Contains(out, "panic") || strings.Contains(out, "DATA RACE") {
			t.Errorf("node %d:\n%s", i, out)
		}
	}

	check := startChild(t, bin, env, nil, "check", "--store", url)
	if code := check.wait(t, 60*time.Second); code != 0 || !strings.Contains(check.out.String(), "ok:") {
		t.Errorf("parley check: exit %d\n%s", code, check.out)
	}
	st, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkCrashed(t, st, postgres.NewFiles(st), st.Verify, clients, rounds, rounds)
}
