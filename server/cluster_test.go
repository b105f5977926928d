package server_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/server/natsbus/natstest"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

// clusterNode is one node of a test cluster.
type clusterNode struct {
	srv     *server.Server
	ts      *httptest.Server
	base    string
	stopped bool
}

// stop stops the node as SIGTERM does (Server.Close: sockets closed with
// 1001, the node's sessions released).
func (n *clusterNode) stop() {
	if !n.stopped {
		n.stopped = true
		n.srv.Close()
		n.ts.Close()
	}
}

// testCluster is n nodes on one PostgreSQL store (a schema of the test's
// own) and one NATS server, sharing a data directory for the visitor
// key and admin token, as nodes share them in production.
type testCluster struct {
	t     *testing.T
	nodes []*clusterNode
	nats  *natstest.Server
	store string
	data  string
	lease time.Duration
	sites []*widget.Site // nil: the demo site
}

func startCluster(t *testing.T, n int, lease time.Duration, sites ...*widget.Site) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, nats: natstest.Start(t), store: postgrestest.URL(t), data: t.TempDir(), lease: lease, sites: sites}
	for i := range n {
		tc.nodes = append(tc.nodes, tc.start(i))
	}
	return tc
}

// start opens node i; it stops when the test ends.
func (tc *testCluster) start(i int) *clusterNode {
	tc.t.Helper()
	s, err := server.Open(server.Config{
		DataDir: tc.data, Store: tc.store, AdminToken: adminToken, Sites: tc.sites,
		Cluster: server.ClusterConfig{Bus: tc.nats.URL(), Name: fmt.Sprintf("node-%d", i), Lease: tc.lease},
		Logger:  slog.New(slog.NewTextHandler(testLog{tc.t, i}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		tc.t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	n := &clusterNode{srv: s, ts: ts, base: ts.URL}
	tc.t.Cleanup(func() {
		ts.CloseClientConnections()
		n.stop()
	})
	return n
}

// testLog writes a node's log lines into the test's log.
type testLog struct {
	t    *testing.T
	node int
}

func (l testLog) Write(p []byte) (int, error) {
	l.t.Logf("node-%d: %s", l.node, strings.TrimSpace(string(p)))
	return len(p), nil
}

// dial opens a tab of the browser jar on node i.
func (tc *testCluster) dial(i int, jar http.CookieJar) *widgettest.Client {
	tc.t.Helper()
	return widgettest.MustDial(tc.t, widgettest.URL(tc.nodes[i].base, "demo"), widgettest.Options{Origin: testOrigin, Jar: jar})
}

// twoTabs opens a browser's first tab on node 0, which starts and so
// owns its conversation, and a second tab of the same browser on node 1,
// which resumes it; it returns both and the first tab's welcome.
func (tc *testCluster) twoTabs() (a, b *widgettest.Client, w widgettest.Frame) {
	tc.t.Helper()
	jar := widgettest.NewJar()
	a = tc.dial(0, jar)
	w = a.MustHello(widgettest.Hello{})
	a.UntilPrompt("menu")
	b = tc.dial(1, jar)
	if r := b.MustHello(widgettest.Hello{Session: w.Session}); r.Session != w.Session || r.Resumed == nil || !*r.Resumed || r.Visitor != w.Visitor {
		tc.t.Fatalf("the second tab: session %s resumed %v visitor %s; want %s resumed, visitor %s", r.Session, r.Resumed, r.Visitor, w.Session, w.Visitor)
	}
	return a, b, w
}

// visitorTexts returns the texts of the visitor's messages, in order.
func visitorTexts(msgs []widgettest.Frame) []string {
	var out []string
	for _, m := range msgs {
		if m.From == "visitor" {
			out = append(out, m.Text)
		}
	}
	return out
}

// transcript returns the session's messages as the admin API at base
// shows them.
func transcript(t *testing.T, base, session string) []widgettest.Frame {
	t.Helper()
	var tr struct{ Messages []widgettest.Frame }
	admintest.Get(t, base, adminToken, "/admin/api/sessions/"+session, &tr)
	return tr.Messages
}

// untilMessage reads c's frames up to the message with the text.
func untilMessage(t *testing.T, c *widgettest.Client, from, text string) widgettest.Frame {
	t.Helper()
	for {
		f := c.Next()
		if f.Type == widgettest.TypeError {
			t.Fatalf("error frame %+v", f)
		}
		if f.Type == widgettest.TypeMessage && f.From == from && f.Text == text {
			return f
		}
	}
}

// TestCluster_TwoTabsOnTwoNodes: a visitor's two tabs on two nodes are
// one conversation: each sees the other's messages and the bot's
// answers, a client ID resent from the other node gets the original ack
// and stores nothing, and turns sent from both tabs at once are all
// stored, none lost to the other.
func TestCluster_TwoTabsOnTwoNodes(t *testing.T) {
	tc := startCluster(t, 3, 2*time.Second)
	a, b, w := tc.twoTabs()

	// Both tabs at once, free text while the menu waits (the bot's
	// fallback answers each): every turn acked on its own tab.
	const each = 8
	var wg sync.WaitGroup
	for i, c := range []*widgettest.Client{a, b} {
		wg.Go(func() {
			for n := range each {
				c.MustText(fmt.Sprintf("t%d-%d", i, n), fmt.Sprintf("question %d from tab %d", n, i))
			}
		})
	}
	wg.Wait()
	for i, c := range []*widgettest.Client{a, b} {
		acked := map[string]bool{}
		for len(acked) < each {
			f := c.Next()
			if f.Type == widgettest.TypeError {
				t.Fatalf("tab %d: error frame %+v", i, f)
			}
			if f.Type == "ack" {
				acked[f.Ref] = true
			}
		}
	}

	// The tab on the other node chooses; both tabs go on.
	b.MustChoice("c1", "menu", "demo")
	ack := b.Until("ack")
	b.UntilPrompt("ask_name")
	untilMessage(t, a, "visitor", "Show me a demo")
	a.UntilPrompt("ask_name")
	a.MustText("c2", "Ann")
	a.Until("ack")
	untilMessage(t, b, "visitor", "Ann")
	b.UntilPrompt("ask_email")
	a.UntilPrompt("ask_email")

	// c1 again, from the owner's node this time: the original ack.
	a.MustChoice("c1", "menu", "demo")
	if again := a.Until("ack"); again.ID != ack.ID {
		t.Errorf("resent c1: ack %s, want the original %s", again.ID, ack.ID)
	}

	msgs := transcript(t, tc.nodes[2].base, w.Session)
	stored := map[string]int{}
	for _, text := range visitorTexts(msgs) {
		stored[text]++
	}
	for i := range 2 {
		for n := range each {
			if text := fmt.Sprintf("question %d from tab %d", n, i); stored[text] != 1 {
				t.Errorf("%q stored %d times, want once", text, stored[text])
			}
		}
	}
	if stored["Show me a demo"] != 1 || stored["Ann"] != 1 {
		t.Errorf("the choice and the name stored %d and %d times, want once each", stored["Show me a demo"], stored["Ann"])
	}
	var list struct {
		Items []struct {
			ID           string
			Status       string
			MessageCount int
		}
	}
	admintest.Get(t, tc.nodes[2].base, adminToken, "/admin/api/sessions", &list)
	if len(list.Items) != 1 || list.Items[0].MessageCount != len(msgs) {
		t.Fatalf("sessions list %+v; want one with %d messages", list.Items, len(msgs))
	}
	if list.Items[0].Status != "active" {
		t.Errorf("status %q on a third node, want active", list.Items[0].Status)
	}
	// The owner node's bus series.
	_, metrics := get(t, tc.nodes[0].base+"/metrics", adminHeader)
	if !strings.Contains(string(metrics), "parley_bus_up 1") || strings.Contains(string(metrics), "parley_bus_messages_sent_total 0") {
		t.Errorf("/metrics lacks the bus up and its messages sent:\n%s", metrics)
	}
}

// TestCluster_EraseClosesEveryNodesTabs: the admin on a third node sees
// the visitor's session active and erases the visitor; its tabs on both
// other nodes close with 4001.
func TestCluster_EraseClosesEveryNodesTabs(t *testing.T) {
	tc := startCluster(t, 3, 2*time.Second)
	a, b, w := tc.twoTabs()
	resp, body := adminDo(t, http.MethodDelete, tc.nodes[2].base+"/admin/api/users/"+w.Visitor)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("erase: %d %s", resp.StatusCode, body)
	}
	a.ExpectClose(websocket.StatusCode(4001))
	b.ExpectClose(websocket.StatusCode(4001))
}

// TestCluster_OwnerGone: the node owning a session stops without a word
// (its bus cut, its lease left to pass); the visitor's tab on another
// node keeps talking: its next frame waits until the lease passed, the
// other node takes the session over, and nothing acked is lost.
func TestCluster_OwnerGone(t *testing.T) {
	const lease = time.Second
	tc := startCluster(t, 2, lease)
	a, b, w := tc.twoTabs()
	a.MustChoice("c1", "menu", "demo")
	a.Until("ack")

	tc.nodes[0].srv.Crash() // the bus and the lease stop; no goodbye
	start := time.Now()
	b.MustText("c2", "Ann")
	b.Until("ack")
	took := time.Since(start)
	b.UntilPrompt("ask_email")
	if took > lease+5*time.Second {
		t.Errorf("the takeover took %v, want within the lease (%v) and a few seconds", took, lease)
	}
	if visitor := visitorTexts(transcript(t, tc.nodes[1].base, w.Session)); strings.Join(visitor, "|") != "Show me a demo|Ann" {
		t.Errorf("the visitor's messages %q, want the choice and Ann once each", visitor)
	}
}

// TestCluster_BusRestart: with NATS down each node goes on serving the
// tabs of the sessions it owns; once NATS is back, forwarding resumes by
// itself, and a tab that missed messages meanwhile finds them in its
// history when it resumes.
func TestCluster_BusRestart(t *testing.T) {
	tc := startCluster(t, 2, 2*time.Second)
	a, b, w := tc.twoTabs()

	tc.nats.Stop()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, _ := get(t, tc.nodes[1].base+"/readyz", nil); resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz still 200 with NATS down")
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.MustChoice("c1", "menu", "demo")
	a.Until("ack")
	a.UntilPrompt("ask_name")
	tc.nats.Restart()

	// The tab on the other node talks again once its node reconnected.
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, _ := get(t, tc.nodes[1].base+"/readyz", nil)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 1 not ready again after NATS came back: %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.MustText("c2", "Ann")
	b.Until("ack")
	untilMessage(t, a, "visitor", "Ann")
	b.Close()

	// A new tab on that node has everything in its history.
	c := tc.dial(1, b.Jar())
	r := c.MustHello(widgettest.Hello{Session: w.Session})
	if texts := visitorTexts(r.History); strings.Join(texts, "|") != "Show me a demo|Ann" {
		t.Errorf("history's visitor messages %q, want the choice made while NATS was down and Ann", texts)
	}
}

// TestCluster_GracefulStop: a node stopping (SIGTERM) closes its sockets
// with 1001 and hands its sessions over at once: the visitor's tab on
// another node goes on without waiting for the stopped node's lease.
func TestCluster_GracefulStop(t *testing.T) {
	const lease = 30 * time.Second // longer than the test: only a hand-over passes
	tc := startCluster(t, 2, lease)
	a, b, w := tc.twoTabs()

	tc.nodes[0].stop()
	a.ExpectClose(websocket.StatusGoingAway)
	start := time.Now()
	b.MustChoice("c1", "menu", "demo")
	b.Until("ack")
	b.UntilPrompt("ask_name")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the turn after the owner stopped took %v: the session was not handed over", took)
	}
	// The widget reconnects (through the balancer) to a node still up.
	c := tc.dial(1, b.Jar())
	if r := c.MustHello(widgettest.Hello{Session: w.Session}); r.Session != w.Session {
		t.Errorf("reconnect: session %s, want %s resumed", r.Session, w.Session)
	}
}

// TestCluster_AgentAndUploadOnOtherNodes: an agent signed in on one node
// takes and answers a conversation whose visitor is on another, the
// inbox's live events reach the agent's node, and a file uploaded
// through a third node moves the visitor's story on.
func TestCluster_AgentAndUploadOnOtherNodes(t *testing.T) {
	t.Run("Agent", func(t *testing.T) {
		tc := startCluster(t, 3, 2*time.Second, hoSite(t, time.Hour))
		ana := hoAgentClient(t, tc.nodes[1].base, "ana", hoAddAgent(t, tc.nodes[1].base, adminToken, "ana", "Ana Lopez"))
		events := hoEvents(t, ana, tc.nodes[2].base, "")
		v := tc.dial(0, widgettest.NewJar())
		sid := v.MustHello(widgettest.Hello{}).Session
		v.UntilPrompt("hi")
		v.MustChoice("c1", "hi", "person")
		v.Expect(widgettest.TypeAck)
		if ev := hoNext(t, events, "changed"); ev.Session != sid || ev.Status != "waiting" {
			t.Errorf("inbox event on the agent's node: %+v", ev)
		}
		path := tc.nodes[2].base + "/admin/api/sessions/" + sid
		if status, body := hoCall(t, ana, "POST", path+"/take", "", map[string]any{}); status != 200 {
			t.Fatalf("take on another node: %d %s", status, body)
		}
		v.Until(widgettest.TypeHandover)
		status, body := hoCall(t, ana, "POST", path+"/messages", "", map[string]string{"text": "Hi, Ana here"})
		if status != 201 || !strings.Contains(string(body), `"agentName":"Ana Lopez"`) || !strings.Contains(string(body), `"id":"`) {
			t.Fatalf("reply on another node: %d %s", status, body)
		}
		if m := untilMessage(t, v, "agent", "Hi, Ana here"); m.Agent != "Ana Lopez" {
			t.Errorf("the agent's message on the visitor's node: %+v", m)
		}
		v.MustText("c2", "Thanks!")
		v.Until(widgettest.TypeAck)
		if ev := hoNext(t, events, "changed"); ev.Session != sid {
			t.Errorf("inbox event for the visitor's answer: %+v", ev)
		}
	})
	t.Run("Upload", func(t *testing.T) {
		tc := startCluster(t, 3, 2*time.Second)
		v := tc.dial(0, widgettest.NewJar())
		w := v.MustHello(widgettest.Hello{})
		walkToUpload(v)
		status, answer := postUpload(t, tc.nodes[1].base, w.Session, w.Token, "cat.png", "image/png", samplePNG(t, 4, 4))
		if status != http.StatusCreated {
			t.Fatalf("upload through another node: %d %s", status, answer)
		}
		for {
			f := v.Next()
			if f.Type == widgettest.TypeMessage && f.From == "visitor" && f.File != nil {
				if f.File.Name != "cat.png" {
					t.Errorf("file message %+v", f.File)
				}
				break
			}
		}
		untilMessage(t, v, "bot", "Got it, thanks!") // the story goes on past the upload
	})
}
