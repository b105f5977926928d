package widget

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/parley-chat/parley/storage"
)

// hub tracks the sessions that have sockets open (or an upload in flight),
// so every tab of a session sees the others' messages and turns of one
// session run one at a time.
type hub struct {
	g        *Gateway
	mu       sync.Mutex
	sessions map[string]*liveSession
	cluster  *cluster // nil alone
}

// liveSession is a session in use, and the owner of every change to it
// (conversation.go). mu serialises its turns: a turn reads the state,
// runs the story and writes the result, and two tabs (or a tab and an
// upload, or an agent) must not interleave.
//
// It is kept small, as every idle visitor holds one: the first socket is
// held inline (most sessions have one tab), and the cached record is
// dropped by the keepalive timer once the session's sockets are quiet.
type liveSession struct {
	g    *Gateway
	id   string
	refs int // holders: sockets and in-flight uploads

	// mu serialises its turns. The session's owner is whoever holds mu:
	// cache and acks are the truth while it has sockets (every turn is
	// recorded from and into them, reading nothing from the store), and
	// are loaded from the store again after the keepalive dropped them.
	mu    sync.Mutex
	cache *storage.Session       // the session with every turn recorded, under mu; nil when quiet
	acks  map[string]storage.Ack // the client-ID ledger, under mu; nil when quiet
	gone  bool                   // its visitor was erased: no more turns, under mu
	// paused says a person waits for or holds the conversation, so the
	// visitor's typing goes to the console; set by the owner's turns.
	paused atomic.Bool
	first  *conn   // the sockets, under mu: the first tab inline,
	more   []*conn // any others here

	// Several nodes (cluster.go), empty alone: the owner node as last
	// known under mu ("" unknown), and the end of the node's subscription
	// to the owner's notes.
	owner       string
	unsubscribe func()
	// remoteTurn is the tab on another node whose frame this owner runs
	// now, under mu: it gets the turn's frames in its answer, in order,
	// and the other nodes do not pass them to it again.
	remoteTurn *conn
}

// acquire returns the live session for id, creating it, and counts a
// holder. With several nodes, a session the node begins to hold is
// subscribed to its owner's notes (cluster.go).
func (h *hub) acquire(id string) *liveSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	ls := h.sessions[id]
	if ls == nil {
		ls = &liveSession{g: h.g, id: id}
		if h.cluster != nil {
			h.cluster.subscribe(ls)
		}
		h.sessions[id] = ls
	}
	ls.refs++
	return ls
}

// release drops a holder and forgets the session when none is left; with
// several nodes, one this node owned is released in the store soon after.
func (h *hub) release(ls *liveSession) {
	h.mu.Lock()
	ls.refs--
	gone := ls.refs == 0
	if gone {
		delete(h.sessions, ls.id)
		if ls.unsubscribe != nil {
			ls.unsubscribe()
		}
	}
	h.mu.Unlock()
	if gone && h.cluster != nil {
		ls.mu.Lock()
		owned := ls.owner == h.cluster.me()
		ls.mu.Unlock()
		if owned {
			h.cluster.released(ls.id)
		}
	}
}

// active reports whether a socket is open on the session.
func (h *hub) active(id string) bool {
	h.mu.Lock()
	ls := h.sessions[id]
	h.mu.Unlock()
	if ls == nil {
		return false
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.first != nil || len(ls.more) > 0
}

// join and leave attach a socket; callers hold ls.mu.
func (ls *liveSession) join(c *conn) {
	if ls.first == nil {
		ls.first = c
		return
	}
	ls.more = append(ls.more, c)
}

func (ls *liveSession) leave(c *conn) {
	if ls.first == c {
		ls.first = nil
		if n := len(ls.more); n > 0 {
			ls.first = ls.more[n-1]
			ls.more = ls.more[:n-1]
		}
	} else if i := slices.Index(ls.more, c); i >= 0 {
		ls.more = slices.Delete(ls.more, i, i+1)
	}
	if len(ls.more) == 0 {
		ls.more = nil
	}
}

// broadcast queues frame on every socket of the session but skip, on
// every node. Callers hold ls.mu, as the session's owner.
func (ls *liveSession) broadcast(frame []byte, skip *conn) { ls.send(frame, skip, "") }

// broadcastMessage is broadcast of a message frame. The frame is only
// encoded when some tab gets it: a visitor's own message, in a session
// with one tab on one node, goes to nobody.
func (ls *liveSession) broadcastMessage(m *storage.Message, skip *conn) {
	if ls.g.hub.cluster == nil && len(ls.more) == 0 && (ls.first == nil || ls.first == skip) {
		return
	}
	ls.send(encode(toFrame(m)), skip, m.ID)
}

func (ls *liveSession) send(frame []byte, skip *conn, msgID string) {
	if ls.first != nil && ls.first != skip {
		ls.first.enqueue(frame)
	}
	for _, c := range ls.more {
		if c != skip {
			c.enqueue(frame)
		}
	}
	cl := ls.g.hub.cluster
	if cl == nil {
		return
	}
	if rt := ls.remoteTurn; rt != nil {
		if rt != skip {
			rt.enqueue(frame)
		}
		skip = rt
	}
	cl.publishFrame(ls, frame, skip, msgID)
}

// broadcastLocal queues a frame the owner node published on this node's
// sockets of the session: not on the tab skip names, which sent it, nor
// on one whose history had the message msgID (if any) already. Callers
// hold ls.mu.
func (ls *liveSession) broadcastLocal(frame []byte, skip, msgID string) {
	for _, c := range ls.sockets() {
		if (skip == "" || c.tab != skip) && (msgID == "" || msgID > c.seen) {
			c.enqueue(frame)
		}
	}
}

// sockets returns the session's sockets on this node. Callers hold ls.mu.
func (ls *liveSession) sockets() []*conn {
	if ls.first == nil {
		return nil
	}
	return append([]*conn{ls.first}, ls.more...)
}

// trim drops the cached record of a quiet session, unless a turn holds
// the session now; the next turn reads it from the store again.
func (ls *liveSession) trim() {
	if ls.mu.TryLock() {
		ls.cache, ls.acks = nil, nil
		ls.mu.Unlock()
	}
}

// cacheOr is the session as its owner holds it, else sess (as read from
// the store). Callers hold ls.mu.
func (ls *liveSession) cacheOr(sess *storage.Session) *storage.Session {
	if ls.cache != nil {
		return ls.cache
	}
	return sess
}
