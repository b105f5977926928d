package widget

import (
	"sync"

	"github.com/parley-chat/parley/storage"
)

// hub tracks the sessions that have sockets open (or an upload in flight),
// so every tab of a session sees the others' messages and turns of one
// session run one at a time.
type hub struct {
	mu       sync.Mutex
	sessions map[string]*liveSession
}

// liveSession is a session in use. mu serialises its turns: a turn reads
// the state, runs the story and writes the result, and two tabs (or a tab
// and an upload) must not interleave.
type liveSession struct {
	id   string
	refs int // holders: sockets and in-flight uploads

	mu    sync.Mutex
	cache *storage.Session // the latest stored record, under mu
	conns map[*conn]struct{}
}

// acquire returns the live session for id, creating it, and counts a holder.
func (h *hub) acquire(id string) *liveSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	ls := h.sessions[id]
	if ls == nil {
		ls = &liveSession{id: id, conns: make(map[*conn]struct{})}
		h.sessions[id] = ls
	}
	ls.refs++
	return ls
}

// release drops a holder and forgets the session when none is left.
func (h *hub) release(ls *liveSession) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ls.refs--
	if ls.refs == 0 {
		delete(h.sessions, ls.id)
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
	return len(ls.conns) > 0
}

// join and leave attach a socket; callers hold ls.mu.
func (ls *liveSession) join(c *conn)  { ls.conns[c] = struct{}{} }
func (ls *liveSession) leave(c *conn) { delete(ls.conns, c) }

// broadcast queues frame on every socket of the session but skip.
// Callers hold ls.mu.
func (ls *liveSession) broadcast(frame []byte, skip *conn) {
	for c := range ls.conns {
		if c != skip {
			c.enqueue(frame)
		}
	}
}
