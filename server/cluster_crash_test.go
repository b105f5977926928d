package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"syscall"
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
			"--node-name", fmt.Sprintf("node-%d", i), "--node-lease", "3s", "--msg-rate", "-1", "--max-conns-per-ip", "-1",
			"--new-sessions-per-ip", "-1", "--new-visitors-per-ip", "-1"}
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
			for k, n := range nodes {
				t.Logf("node %d:\n%s", k, n.out)
			}
			t.Fatalf("the probe's turn after node %d, its owner, was killed: %+v, %v after %v", i, ack, err, took)
		}
		slowest = max(slowest, took)
		other.Close()
		time.Sleep(time.Duration(500+rng.IntN(3000)) * time.Millisecond)
		nodes[i] = startChild(t, bin, env, nil, args(i)...)
		waitHealthy(t, addrs[i])
	}
	// A node stalls (SIGSTOP: a long pause, a frozen VM) with a session
	// it owns: its sockets stay open and a frame forwarded to it is never
	// answered. Once its lease passed, another node takes the session
	// over; when the stalled node wakes up it writes nothing more of it.
	stallSession := stallOwner(t, nodes[0], addrs[0], addrs[1])
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
		for k, n := range nodes {
			t.Logf("node %d:\n%s", k, n.out)
		}
	}
	st, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkCrashed(t, st, postgres.NewFiles(st), st.Verify, clients, rounds, rounds)
	msgs, err := st.Messages(context.Background(), stallSession, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range msgs {
		if m.ClientID != "" {
			seen[m.ClientID]++
		}
	}
	if seen["taken"] != 1 || seen["woke"] > 1 {
		t.Errorf("the stalled node's session stores taken %d times and woke %d times, want once and at most once", seen["taken"], seen["woke"])
	}
}

// stallOwner stops the node at ownerAddr with SIGSTOP while it owns a
// session that has a second tab at otherAddr, checks that tab is answered
// once the stalled node's lease passed, then wakes the node up and sends
// a frame from the tab it held. It returns the session.
func stallOwner(t *testing.T, owner *child, ownerAddr, otherAddr string) string {
	t.Helper()
	jar := widgettest.NewJar()
	held := widgettest.MustDial(t, widgettest.URL("http://"+ownerAddr, "demo"), widgettest.Options{Origin: testOrigin, Jar: jar})
	w := held.MustHello(widgettest.Hello{})
	held.UntilPrompt("menu")
	other := widgettest.MustDial(t, widgettest.URL("http://"+otherAddr, "demo"), widgettest.Options{Origin: testOrigin, Jar: jar})
	other.MustHello(widgettest.Hello{Session: w.Session})

	owner.cmd.Process.Signal(syscall.SIGSTOP)
	start := time.Now()
	other.MustChoice("taken", "menu", "demo")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	ack, err := other.Await(ctx, "ack")
	cancel()
	owner.cmd.Process.Signal(syscall.SIGCONT)
	if took := time.Since(start); err != nil || ack.Ref != "taken" || took > 10*time.Second {
		t.Fatalf("the turn of a stalled node's session: %+v, %v after %v; want it acked within 10 s", ack, err, took)
	} else {
		t.Logf("a stalled node's session moved in %v (lease 3s)", took)
	}
	// Awake, the node finds its lease gone: the frame of the tab it held is
	// refused (internal, nothing written) or run by the new owner; either
	// way "woke" is stored at most once (checked by the caller).
	held.MustText("woke", "Ann")
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		f, err := held.Read(ctx)
		if err != nil || f.Type == "ack" && f.Ref == "woke" || f.Type == widgettest.TypeError && f.Ref == "woke" {
			break
		}
	}
	return w.Session
}
