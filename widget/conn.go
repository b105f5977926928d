package widget

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/parley-chat/parley/storage"
)

// conn is one WebSocket. Its reading goroutine (Gateway.serve) is the only
// one it owns: it reads, runs turns and then writes what the turn queued. Frames queued by
// others (a second tab's turn, an upload) start a writer goroutine that
// lives only until the queue is empty, and pings come from the gateway's
// one keepalive timer, so an idle connection holds a goroutine blocked in
// Read and this struct, nothing more. A client that stops reading fills
// only its own bounded queue, or times out a write, and is dropped.
type conn struct {
	g    *Gateway
	ws   *websocket.Conn
	site *Site
	ip   netip.Addr // the per-address cap's key

	visitor       string // the visitor ID, provisional until hello
	knownByCookie bool   // the cookie named an existing visitor: hello's token cannot change it
	device        storage.Device
	acceptLang    string // the handshake's Accept-Language: the visitor's language when hello names none

	// live is the session, after hello; a hello with new moves the
	// socket to a new one. Atomic: the keepalive timer reads it.
	live atomic.Pointer[liveSession]

	// Several nodes (cluster.go): tab names the socket across the
	// cluster; seen is the newest message its welcome's history had, so
	// the owner node's copy of it is not queued twice. remote, on the
	// owner node, stands for a tab on another node for one frame: what
	// the turn answers the tab is collected for the caller.
	tab    string
	seen   string
	remote *remoteTab

	// Transport timers, in Gateway.mono nanoseconds.
	opened     int64
	lastRead   atomic.Int64 // the last frame or pong read
	writeSince atomic.Int64 // when the write in progress began; 0 if none
	flags      atomic.Uint32

	// The frame a worker runs for the reader (see workers).
	inType    websocket.MessageType
	inData    []byte
	inLimited bool // over the rate: answer rate_limited, do not run it
	taskDone  sync.WaitGroup
	panicked  any

	// Token bucket for MsgRate; the reading goroutine's alone.
	tokens   float64
	refilled int64
	refused  int // frames refused in a row for the rate

	// closeAfterTurn: the turn refused the hello for good (refuseStart);
	// the reader closes the socket once its answer is written.
	closeAfterTurn bool

	qmu     sync.Mutex
	queue   [][]byte // frames waiting to be written, oldest first
	writing bool     // someone is writing: the reader after its turn, or a writer goroutine
	inTurn  bool     // the reader is running a turn and will write the queue itself
}

// Flags of conn.flags.
const (
	flagHello   uint32 = 1 << iota // hello was answered
	flagPinging                    // a ping is in flight
	flagClosing                    // closing: nothing more is written
	flagCached                     // a turn ran since the session's cache was last trimmed
)

// setFlag sets f and reports whether it was clear.
func (c *conn) setFlag(f uint32) bool { return c.flags.Or(f)&f == 0 }

// run serves the connection until it closes.
func (c *conn) run() {
	defer func() {
		// Read errors close the socket already; this covers a panic-free
		// return on every other path too.
		c.flags.Or(flagClosing)
		c.ws.CloseNow()
		c.leaveSession()
	}()
	for {
		typ, buf, err := c.read()
		if err != nil {
			// A frame over the read limit has already been answered with 1009
			// by the library; anything else is the peer leaving, a close we
			// started, or a shutdown.
			return
		}
		now := c.g.mono()
		c.lastRead.Store(now)
		c.g.Stats.FramesIn.Add(1)
		c.beginTurn()
		c.inType, c.inData, c.inLimited = typ, buf.Bytes(), !c.allow(now)
		if c.inLimited {
			c.refused++
			if c.refused > c.g.cfg.RateLimitClose {
				readBufs.Put(buf)
				c.g.Stats.countClosed(closedRateLimit)
				c.endTurn()
				c.closeFromReader(websocket.StatusPolicyViolation, "too many messages")
				return
			}
		} else {
			c.refused = 0
		}
		c.g.workers.run(c)
		c.inData = nil
		readBufs.Put(buf)
		c.flags.Or(flagCached)
		c.endTurn()
		if c.closeAfterTurn {
			c.closeFromReader(websocket.StatusPolicyViolation, "try again later")
			return
		}
	}
}

// leaveSession detaches the socket from its session, if it has one.
func (c *conn) leaveSession() {
	ls := c.live.Swap(nil)
	if ls == nil {
		return
	}
	ls.mu.Lock()
	ls.leave(c)
	ls.mu.Unlock()
	c.g.hub.release(ls)
}

// readBufs hold frames between the socket and the turn that parses them,
// so reading a frame allocates nothing in the steady state.
var readBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// read reads one frame into a buffer from readBufs.
func (c *conn) read() (websocket.MessageType, *bytes.Buffer, error) {
	typ, r, err := c.ws.Reader(context.Background())
	if err != nil {
		return 0, nil, err
	}
	buf := readBufs.Get().(*bytes.Buffer)
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		readBufs.Put(buf)
		return 0, nil, err
	}
	return typ, buf, nil
}

// runFrame runs the frame the reader left in c.in*, on a worker. Turns run on
// the gateway's context, so a shutdown cancels a store write that hangs.
func (c *conn) runFrame() {
	if c.inLimited {
		// Over the rate: refused, not stored. The ref is taken from the
		// frame, so the client knows what to send again.
		var ref string
		if f, err := ParseClientFrame(c.inData); err == nil {
			ref = f.ID
		}
		c.fail(ref, &FrameError{"rate_limited", "too many messages: wait a moment and send this again"})
		return
	}
	if c.inType != websocket.MessageText {
		c.fail("", &FrameError{"bad_frame", "frames are JSON text messages"})
		return
	}
	f, err := ParseClientFrame(c.inData)
	if err != nil {
		c.fail("", err)
		return
	}
	if err := c.handle(c.g.baseCtx, f); err != nil {
		c.fail(f.ID, err)
	}
	if c.live.Load() != nil {
		c.flags.Or(flagHello)
	}
}

// handle runs one client frame.
func (c *conn) handle(ctx context.Context, f *ClientFrame) error {
	if f.Type == frameHello {
		if c.live.Load() != nil {
			if !f.New {
				return &FrameError{"bad_frame", "hello was already said"}
			}
			// Start over on the same socket, as the same visitor: leave
			// the session for a new one.
			c.leaveSession()
			c.knownByCookie = true
		}
		return c.hello(ctx, f) // hello.go
	}
	if c.live.Load() == nil {
		return &FrameError{"hello_first", "the first frame must be hello"}
	}
	if f.Type == frameIdentify {
		return c.identifyLive(ctx, f) // identify.go
	}
	// The session's owner runs the frame: this node, or the one it is
	// forwarded to (cluster.go).
	return c.forward(ctx, f, func() error { return c.runOwned(ctx, f) })
}

// runOwned passes a frame of a session this node owns to the session
// (conversation.go).
func (c *conn) runOwned(ctx context.Context, f *ClientFrame) error {
	switch f.Type {
	case frameTyping:
		// Only a person reads it: while one waits for or holds the
		// conversation, the console shows it.
		if ls := c.live.Load(); ls.paused.Load() {
			c.g.events.publish(Event{Type: EventTyping, Session: ls.id, Site: c.site.ID, Visitor: c.visitor, From: storage.FromVisitor})
		}
		return nil
	case frameText:
		if utf8.RuneCountInString(f.Text) > c.g.cfg.TextLimit {
			return &FrameError{"text_too_long", fmt.Sprintf("a message may have at most %d characters", c.g.cfg.TextLimit)}
		}
	}
	return c.live.Load().turn(ctx, c.siteOf(), c, f) // the current version, after a reload (reload.go)
}

// beginTurn marks the reader as busy with a turn: frames queued for this
// connection meanwhile wait for endTurn instead of starting a writer.
func (c *conn) beginTurn() {
	c.qmu.Lock()
	c.inTurn = true
	c.qmu.Unlock()
}

// endTurn writes what the turn (or anyone else meanwhile) queued, on the
// reading goroutine, unless a writer goroutine is already at it.
func (c *conn) endTurn() {
	c.qmu.Lock()
	c.inTurn = false
	if c.writing || len(c.queue) == 0 {
		c.qmu.Unlock()
		return
	}
	c.writing = true
	c.qmu.Unlock()
	c.drain()
}

// enqueue queues a frame without blocking. A full queue means the client is
// not reading, and it is dropped rather than allowed to stall others.
func (c *conn) enqueue(b []byte) {
	if c.remote != nil {
		c.remote.frames = append(c.remote.frames, b)
		return
	}
	c.qmu.Lock()
	if c.flags.Load()&flagClosing != 0 {
		c.qmu.Unlock()
		return
	}
	if len(c.queue) >= c.g.cfg.SendQueue {
		c.qmu.Unlock()
		c.g.Stats.SlowDropped.Add(1)
		c.g.Stats.countClosed(closedSlow)
		c.closeWith(websocket.StatusTryAgainLater, "client too slow")
		return
	}
	c.queue = append(c.queue, b)
	start := !c.writing && !c.inTurn
	if start {
		c.writing = true
	}
	c.qmu.Unlock()
	if start {
		go c.drain()
	}
}

// drain writes queued frames until the queue is empty; the caller has set
// c.writing. A write that fails or times out leaves the socket closed.
func (c *conn) drain() {
	for {
		c.qmu.Lock()
		batch := c.queue
		if len(batch) == 0 || c.flags.Load()&flagClosing != 0 {
			c.queue = nil
			c.writing = false
			c.qmu.Unlock()
			return
		}
		c.queue = nil
		c.qmu.Unlock()
		for i, b := range batch {
			if err := c.write(b); err != nil {
				c.qmu.Lock()
				c.flags.Or(flagClosing)
				c.queue, c.writing = nil, false
				c.qmu.Unlock()
				return
			}
			batch[i] = nil
		}
	}
}

// write sends one frame. The keepalive timer watches writeSince and drops
// a client whose write takes longer than WriteTimeout (it stopped reading),
// which spares every write a context and a timer of its own.
func (c *conn) write(b []byte) error {
	c.writeSince.Store(c.g.mono())
	err := c.ws.Write(context.Background(), websocket.MessageText, b)
	c.writeSince.Store(0)
	if err != nil {
		return err
	}
	c.g.Stats.FramesOut.Add(1)
	return nil
}

// ping is run by the keepalive timer for a quiet connection; a pong counts
// as something read, no pong closes the connection.
func (c *conn) ping() {
	ctx, cancel := context.WithTimeout(context.Background(), c.g.cfg.PongTimeout)
	err := c.ws.Ping(ctx)
	cancel()
	c.flags.And(^flagPinging)
	if err == nil {
		c.lastRead.Store(c.g.mono())
		return
	}
	if c.flags.Load()&flagClosing == 0 {
		c.g.Stats.countClosed(closedNoPong)
		c.closeDead()
	}
}

// markClosing stops all writes but the close frame; it reports whether
// this call did it.
func (c *conn) markClosing() bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if !c.setFlag(flagClosing) {
		return false
	}
	c.queue = nil
	return true
}

// closeWith closes the socket once, with a status and reason, from any
// goroutine but the reader: the close handshake runs in a goroutine of its
// own while the reader, still in Read, takes the peer's answer and ends.
func (c *conn) closeWith(code websocket.StatusCode, reason string) {
	if c.markClosing() {
		go c.ws.Close(code, reason)
	}
}

// closeErased closes the socket of a visitor whose data was erased with
// StatusErased, once, and counts it; it reports whether this call did.
func (c *conn) closeErased() bool {
	if c.remote != nil {
		c.remote.close = int(StatusErased)
		return true
	}
	if !c.markClosing() {
		return false
	}
	c.g.Stats.countClosed(closedErased)
	go c.ws.Close(StatusErased, "visitor data erased")
	return true
}

// closeDead drops a peer that answers nothing: no close handshake, which
// it would not answer either, so its socket is freed at once.
func (c *conn) closeDead() {
	if c.markClosing() {
		c.ws.CloseNow()
	}
}

// closeFromReader closes the socket from the reading goroutine, which reads
// the peer's answer to the close itself (for at most 5 s).
func (c *conn) closeFromReader(code websocket.StatusCode, reason string) {
	if c.markClosing() {
		c.ws.Close(code, reason)
	}
}

// fail sends an error frame for a refused frame; the connection stays up.
func (c *conn) fail(ref string, err error) {
	if errors.Is(err, storage.ErrNotFound) && c.live.Load() != nil {
		// The session was erased under the conversation (DropVisitor's
		// race, or a retention sweep): start afresh rather than fail
		// every frame from now on.
		c.closeErased()
		return
	}
	var fe *FrameError
	if !errors.As(err, &fe) {
		var se *storyError
		if errors.As(err, &se) {
			fe = &FrameError{se.Code, se.Message}
		} else {
			c.g.cfg.Logger.Error("turn failed", "site", c.site.ID, "err", err)
			fe = &FrameError{"internal", "the message could not be stored; please send it again"}
		}
	}
	c.g.Stats.countError(fe.Code)
	c.enqueue(encode(errorFrame{Type: "error", Ref: ref, Code: fe.Code, Message: fe.Message}))
}

// workers run the turns of all connections. A turn (JSON, the story, the
// store) needs a deep stack; run on the reading goroutine it would grow
// that stack for good, and every idle connection would keep it. Workers
// are started when none is free, up to Config.TurnWorkers; beyond that a
// turn waits for one. The bound is on their stacks: a turn in flight
// mostly waits for its group commit, and the more wait together the
// larger the commit (DefaultTurnWorkers).
// A worker ends after idling for workerIdle.
type workers struct {
	tasks chan *conn
	slots chan struct{} // one per running worker
}

const workerIdle = 2 * time.Second

func newWorkers(n int) workers {
	return workers{tasks: make(chan *conn), slots: make(chan struct{}, n)}
}

// run runs c.runFrame on a worker and waits for it; a panic there is raised
// again here, on the connection's own goroutine, as if it had run here.
// Only c's reading goroutine calls it.
func (p *workers) run(c *conn) {
	c.taskDone.Add(1)
	select {
	case p.tasks <- c:
	default:
		select {
		case p.slots <- struct{}{}:
			go p.work(c)
		case p.tasks <- c:
		}
	}
	c.taskDone.Wait()
	if v := c.panicked; v != nil {
		c.panicked = nil
		panic(v)
	}
}

func (p *workers) work(c *conn) {
	defer func() { <-p.slots }()
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		runTask(c)
		t.Reset(workerIdle)
		select {
		case c = <-p.tasks:
		case <-t.C:
			return
		}
	}
}

func runTask(c *conn) {
	defer func() {
		c.panicked = recover()
		c.taskDone.Done()
	}()
	// The reader set lastRead as it read the frame, and reads nothing
	// until the turn is done.
	c.g.Stats.waits.observe(time.Duration(c.g.mono() - c.lastRead.Load()))
	c.runFrame()
}
