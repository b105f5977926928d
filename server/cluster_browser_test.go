package server_test

import (
	"strings"
	"testing"
	"time"
)

// TestBrowser_ClusterFailover: the widget in a real browser, through
// HAProxy (deploy/haproxy.cfg) in front of two nodes. The node holding
// its socket stops (as on SIGTERM): the widget reconnects through HAProxy
// to the other node, resumes the same conversation as the same visitor,
// and the visitor goes on where they were.
func TestBrowser_ClusterFailover(t *testing.T) {
	tc := startCluster(t, 2, 2*time.Second)
	var addrs []string
	for _, n := range tc.nodes {
		addrs = append(addrs, strings.TrimPrefix(n.base, "http://"))
	}
	balancer := "http://" + startHAProxy(t, addrs...)
	host := btHostSite(t, balancer)
	b := btBrowser(t, browserOptions{})
	b.navigate(host + "/")
	b.walkToName()
	b.typeText("input.in", "Ann\n")
	b.waitJS(`__has('visitor', 'Ann') && __has('bot', "What's your email address?")`, "the email question")

	serving := -1
	for i, n := range tc.nodes {
		if n.srv.Gateway.Stats.ConnectionsOpen.Load() > 0 {
			serving = i
		}
	}
	if serving < 0 {
		t.Fatal("no node holds the widget's socket")
	}
	tc.nodes[serving].stop()
	b.waitJSFor(`__ready.length === 2`, "the welcome from the other node", 20*time.Second)
	w := b.welcomes()
	if w[1].Session != w[0].Session || w[1].Visitor != w[0].Visitor || !w[1].Resumed {
		t.Fatalf("after the failover: %+v, want the same visitor and session resumed (%+v)", w[1], w[0])
	}
	if other := tc.nodes[1-serving]; other.srv.Gateway.Stats.ConnectionsOpen.Load() != 1 {
		t.Errorf("the other node holds %d sockets, want the widget's", other.srv.Gateway.Stats.ConnectionsOpen.Load())
	}
	b.typeText("input.in", "ann@example.org\n")
	b.waitJS(`__has('visitor', 'ann@example.org') && __has('bot', 'And a phone number')`, "the phone question, from the other node")
	if n := btEval[int](b, `__msgs().filter(m => m.from === 'visitor' && m.text === 'Ann').length`); n != 1 {
		t.Errorf("'Ann' shows %d times after the failover, want once\n%s", n, b.state())
	}
}
