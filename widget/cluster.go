package widget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/parley-chat/parley/storage"
)

// Several nodes (README, "Several nodes"): gateways sharing one store and
// one bus. Each live session has one owner node, recorded in the store
// (Owners), and only the owner runs its turns. A node with a tab of a
// session owned elsewhere forwards the tab's frames to the owner over the
// bus and gets back, in order, what that turn sends the tab (its ack or
// error, then the bot's messages); the owner publishes what every tab
// sees on the session's subject, which every node holding the session
// listens to. An agent's action or an
// upload that lands on another node goes to the owner the same way. A
// session nobody owns (no socket anywhere, or its owner's lease passed)
// is claimed by the node that needs it.

// Owners is the store's record of which node owns each live session
// (storage/postgres: JoinCluster, ClaimSession, …).
type Owners interface {
	// Node is this node's ID; it changes when the node joins again after
	// losing its lease.
	Node() string
	// ClaimSession makes this node the session's owner unless a live node
	// owns it, and returns the owner.
	ClaimSession(ctx context.Context, sessionID string) (string, error)
	// ReleaseSessions gives up this node's ownership of the sessions.
	ReleaseSessions(ctx context.Context, ids []string) error
	// OwnedSessions lists the sessions a live node owns; SessionOwner
	// names the live owner of one ("" for none).
	OwnedSessions(ctx context.Context) ([]string, error)
	SessionOwner(ctx context.Context, sessionID string) (string, error)
}

// Bus carries messages between the nodes (server/cluster: NATS).
type Bus interface {
	// Publish sends data to the subject's subscribers, at most once.
	Publish(subject string, data []byte) error
	// Request sends data to the one node serving the subject and returns
	// its answer; ErrNoNode when nobody serves it.
	Request(ctx context.Context, subject string, data []byte) ([]byte, error)
	// Subscribe calls handle with each message on the subject, in order,
	// never two at once for one subject, until unsubscribe is called.
	Subscribe(subject string, handle func(data []byte)) (unsubscribe func(), err error)
	// Serve answers the requests on the subject, each on a goroutine of
	// its own, until stop is called.
	Serve(subject string, answer func(data []byte) []byte) (stop func(), err error)
	// Flush returns once the bus server has every subscription made so far.
	Flush(ctx context.Context) error
}

// ErrNoNode is the bus's answer to a request nobody serves: the owner
// node is gone.
var ErrNoNode = errors.New("widget: no node serves the subject")

// Cluster joins a gateway to the other nodes of its store.
type Cluster struct {
	Owners Owners
	Bus    Bus
	// OwnerWait bounds how long a frame waits for its session's owner to
	// answer or, when the owner died, for its lease to pass so this node
	// can take the session over (default 15 s).
	OwnerWait time.Duration
	// ReleaseEvery is how often the node gives up the sessions it no
	// longer has a socket on (default 1 s).
	ReleaseEvery time.Duration
}

// Bus subjects.
const (
	subjectNode     = "parley.node."    // + node ID: requests to the owner
	subjectSession  = "parley.session." // + session ID: what every tab sees
	subjectVisitors = "parley.visitors" // erasures and merges
	subjectEvents   = "parley.events"   // the console's live events
)

// cluster is the gateway's side of a Cluster.
type cluster struct {
	Cluster
	g *Gateway

	// claims: a claim holds it shared; the release of sessions nobody
	// holds any more holds it alone, so a session claimed again while its
	// release is on the way is not released under its new holder.
	claims sync.RWMutex
	// idle are the sessions this node owned when their last holder left,
	// released by the next round of releaseLoop unless held again.
	idleMu sync.Mutex
	idle   map[string]struct{}

	mu        sync.Mutex
	node      string // the ID the node request subject was served under
	stopServe func()
	stopSubs  []func()
	done      chan struct{}
}

// sessionNote is what the owner publishes on a session's subject.
type sessionNote struct {
	From  string          `json:"from"`            // the owner node
	Frame json.RawMessage `json:"frame,omitempty"` // for every tab
	// Skip is the tab that sent the visitor message Frame holds: it was
	// answered already.
	Skip string `json:"skip,omitempty"`
	// Msg is the ID of the message Frame holds: a tab whose history had
	// it already does not get it twice.
	Msg string `json:"msg,omitempty"`
	// Released: the owner gave the session up; a node with a tab on it
	// claims it.
	Released bool `json:"released,omitempty"`
}

// visitorNote is a change of a visitor every node acts on.
type visitorNote struct {
	Erased   string   `json:"erased,omitempty"`
	From     string   `json:"from,omitempty"` // merged: from into
	Into     string   `json:"into,omitempty"`
	Sessions []string `json:"sessions,omitempty"`
}

func (c *cluster) setDefaults() {
	if c.OwnerWait <= 0 {
		c.OwnerWait = 15 * time.Second
	}
	if c.ReleaseEvery <= 0 {
		c.ReleaseEvery = time.Second
	}
}

// join starts the gateway's part in the cluster: it serves requests to
// this node and hears visitor changes and events from the others.
func (c *cluster) join() error {
	c.setDefaults()
	c.idle = map[string]struct{}{}
	c.done = make(chan struct{})
	for subject, handle := range map[string]func([]byte){
		subjectVisitors: c.g.fromVisitorNote,
		subjectEvents:   c.g.fromEventNote,
	} {
		stop, err := c.Bus.Subscribe(subject, handle)
		if err != nil {
			return fmt.Errorf("widget: join the cluster: %w", err)
		}
		c.stopSubs = append(c.stopSubs, stop)
	}
	if err := c.serveNode(); err != nil {
		return err
	}
	go c.releaseLoop()
	return nil
}

// serveNode (re)serves the requests to this node's current ID: after a
// lost lease the node joins the store again under a new one.
func (c *cluster) serveNode() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	node := c.Owners.Node()
	if node == c.node && c.stopServe != nil {
		return nil
	}
	stop, err := c.Bus.Serve(subjectNode+node, c.g.answerCall)
	if err != nil {
		return fmt.Errorf("widget: serve node %s: %w", node, err)
	}
	if c.stopServe != nil {
		c.stopServe()
	}
	c.node, c.stopServe = node, stop
	return nil
}

// Rejoined tells the gateway that the store made this node a new node
// (its lease had passed): requests to the old ID go unanswered, so the
// other nodes claim the sessions it owned, and it serves the new one.
func (g *Gateway) Rejoined() error {
	if g.cluster == nil {
		return nil
	}
	return g.cluster.serveNode()
}

// leave stops serving and listening.
func (c *cluster) leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
		return
	default:
		close(c.done)
	}
	if c.stopServe != nil {
		c.stopServe()
	}
	for _, stop := range c.stopSubs {
		stop()
	}
}

// me is this node's ID now.
func (c *cluster) me() string { return c.Owners.Node() }

// ownerOf returns the node owning the live session, "" when it is this
// one, claiming it when no live node does. Callers hold ls.mu. A session
// this node (re)gains is read from the store again at its next turn.
func (c *cluster) ownerOf(ctx context.Context, ls *liveSession) (string, error) {
	me := c.me()
	if ls.owner == me {
		return "", nil
	}
	if ls.owner != "" {
		return ls.owner, nil
	}
	c.claims.RLock()
	owner, err := c.Owners.ClaimSession(ctx, ls.id)
	c.claims.RUnlock()
	if err != nil {
		return "", err
	}
	ls.owner = owner
	if owner != me {
		return owner, nil
	}
	ls.cache, ls.acks = nil, nil
	return "", nil
}

// forget drops what ls says of an owner that did not answer, so the next
// ownerOf claims the session again. Callers hold ls.mu.
func (ls *liveSession) forget(owner string) {
	if ls.owner == owner {
		ls.owner = ""
	}
}

// released notes that this node's last holder of a session it owned
// left: the next round of releaseLoop gives it up.
func (c *cluster) released(id string) {
	c.idleMu.Lock()
	c.idle[id] = struct{}{}
	c.idleMu.Unlock()
}

// releaseLoop gives up, every ReleaseEvery, the sessions this node owns
// and no longer holds, and tells the nodes with tabs on them to claim.
func (c *cluster) releaseLoop() {
	t := time.NewTicker(c.ReleaseEvery)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			c.releaseIdle()
		}
	}
}

func (c *cluster) releaseIdle() {
	c.claims.Lock()
	defer c.claims.Unlock()
	c.idleMu.Lock()
	var ids []string
	h := &c.g.hub
	h.mu.Lock()
	for id := range c.idle {
		if h.sessions[id] == nil {
			ids = append(ids, id)
		}
	}
	h.mu.Unlock()
	clear(c.idle)
	c.idleMu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(c.g.baseCtx, 10*time.Second)
	defer cancel()
	if err := c.Owners.ReleaseSessions(ctx, ids); err != nil {
		// Still ours in the store: others forward to us, and we claim
		// them again as they come (a claim of our own row is ours).
		c.g.cfg.Logger.Warn("sessions not released", "sessions", len(ids), "err", err)
		return
	}
	note, _ := json.Marshal(sessionNote{From: c.me(), Released: true})
	for _, id := range ids {
		c.publish(subjectSession+id, note)
	}
}

// publish sends a note to the other nodes; a bus down loses it, which the
// tabs make up for from the store when they reconnect.
func (c *cluster) publish(subject string, data []byte) {
	if err := c.Bus.Publish(subject, data); err != nil {
		c.g.cfg.Logger.Debug("bus publish failed", "subject", subject, "err", err)
	}
}

// subscribe makes the node hear the owner's notes of a session it holds;
// the hub calls it for a session it begins to hold.
func (c *cluster) subscribe(ls *liveSession) {
	stop, err := c.Bus.Subscribe(subjectSession+ls.id, func(data []byte) { c.g.fromSessionNote(ls, data) })
	if err != nil {
		c.g.cfg.Logger.Warn("bus subscribe failed", "session", ls.id, "err", err)
		return
	}
	ls.unsubscribe = stop
}

// fromSessionNote passes the owner's frame to this node's tabs of the
// session, or claims a session its owner gave up while tabs are here.
func (g *Gateway) fromSessionNote(ls *liveSession, data []byte) {
	var n sessionNote
	if json.Unmarshal(data, &n) != nil {
		return
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if n.Released {
		ls.forget(n.From)
		if ls.first != nil && ls.owner == "" {
			go g.claimHeld(ls)
		}
		return
	}
	ls.broadcastLocal(n.Frame, n.Skip, n.Msg)
}

// claimHeld claims a session this node has tabs on whose owner gave it up,
// so the store shows it active and agents' replies find an owner.
func (g *Gateway) claimHeld(ls *liveSession) {
	ctx, cancel := context.WithTimeout(g.baseCtx, 10*time.Second)
	defer cancel()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.first == nil {
		return
	}
	if _, err := g.cluster.ownerOf(ctx, ls); err != nil {
		g.cfg.Logger.Warn("session not claimed", "session", ls.id, "err", err)
	}
}

// publishFrame sends a frame of the session to the other nodes' tabs.
func (c *cluster) publishFrame(ls *liveSession, frame []byte, skip *conn, msgID string) {
	n := sessionNote{From: c.me(), Frame: frame, Msg: msgID}
	if skip != nil {
		n.Skip = skip.tab
	}
	data, err := json.Marshal(n)
	if err != nil {
		return
	}
	c.publish(subjectSession+ls.id, data)
}

// publishVisitor tells the other nodes of an erasure or a merge.
func (c *cluster) publishVisitor(n visitorNote) {
	if data, err := json.Marshal(n); err == nil {
		c.publish(subjectVisitors, data)
	}
}

// publishEvent sends a console event to the other nodes.
func (c *cluster) publishEvent(ev Event) {
	if data, err := json.Marshal(ev); err == nil {
		c.publish(subjectEvents, data)
	}
}

// settle learns the owner of a session a tab joins here and, when it is
// another node, makes sure the bus has this node's subscription to its
// notes before the tab's history is read. Callers hold ls.mu.
func (c *cluster) settle(ctx context.Context, ls *liveSession) error {
	owner, err := c.ownerOf(ctx, ls)
	if err != nil || owner == "" {
		return err
	}
	return c.Bus.Flush(ctx)
}

// errElsewhere: another node owns the session (a race with its claim).
var errElsewhere = fmt.Errorf("%w: another node owns the session", storage.ErrUnavailable)

// fromVisitorNote acts on another node's erasure or merge.
func (g *Gateway) fromVisitorNote(data []byte) {
	var n visitorNote
	if json.Unmarshal(data, &n) != nil {
		return
	}
	switch {
	case n.Erased != "":
		g.dropErased(n.Erased)
	case n.From != "" && n.Into != "":
		g.mergedHere(n.From, n.Into, n.Sessions)
	}
}

// fromEventNote passes another node's event to this node's subscribers.
func (g *Gateway) fromEventNote(data []byte) {
	var ev Event
	if json.Unmarshal(data, &ev) != nil {
		return
	}
	ev.Remote = true
	g.events.publish(ev)
}
