package widget

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-chat/parley/storage"
)

// conn is one WebSocket. The handler goroutine reads and runs turns; a
// writer goroutine drains the bounded send queue, so a client that stops
// reading fills only its own queue and is then dropped.
type conn struct {
	g    *Gateway
	ws   *websocket.Conn
	site *Site

	visitor       string // the visitor ID, provisional until hello
	knownByCookie bool   // the cookie named an existing visitor: hello's token cannot change it
	device        storage.Device

	live *liveSession // the session, after hello

	send      chan []byte
	closeOnce sync.Once
	done      chan struct{}
}

// run serves the connection until it closes.
func (c *conn) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.writeLoop(ctx, cancel)
	defer func() {
		if c.live != nil {
			c.live.mu.Lock()
			c.live.leave(c)
			c.live.mu.Unlock()
			c.g.hub.release(c.live)
		}
	}()
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			// A frame over the read limit has already been answered with 1009
			// by the library; anything else is the peer leaving or a shutdown.
			c.closeWith(websocket.StatusNormalClosure, "")
			return
		}
		c.g.Stats.FramesIn.Add(1)
		if typ != websocket.MessageText {
			c.fail("", &FrameError{"bad_frame", "frames are JSON text messages"})
			continue
		}
		f, err := ParseClientFrame(data)
		if err != nil {
			c.fail("", err)
			continue
		}
		if err := c.handle(ctx, f); err != nil {
			c.fail(f.ID, err)
		}
	}
}

// writeLoop sends queued frames and pings; it ends the connection when a
// write fails or times out or a pong does not come back. A close through
// closeWith stops it without cancelling the reader, which must stay to
// complete the close handshake.
func (c *conn) writeLoop(ctx context.Context, cancel context.CancelFunc) {
	ping := time.NewTicker(c.g.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case b := <-c.send:
			wctx, wcancel := context.WithTimeout(ctx, c.g.cfg.WriteTimeout)
			err := c.ws.Write(wctx, websocket.MessageText, b)
			wcancel()
			if err != nil {
				c.closeWith(websocket.StatusGoingAway, "write failed")
				cancel()
				return
			}
			c.g.Stats.FramesOut.Add(1)
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, c.g.cfg.PongTimeout)
			err := c.ws.Ping(pctx)
			pcancel()
			if err != nil {
				c.closeWith(websocket.StatusPolicyViolation, "no pong")
				cancel()
				return
			}
		}
	}
}

// enqueue queues a frame without blocking; a full queue means the client
// is not reading, and it is dropped rather than allowed to stall others.
func (c *conn) enqueue(b []byte) {
	select {
	case c.send <- b:
	default:
		c.g.Stats.SlowDropped.Add(1)
		go c.closeWith(websocket.StatusTryAgainLater, "client too slow")
	}
}

// closeWith closes the socket once, with a status and reason.
func (c *conn) closeWith(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		close(c.done)
		// Close waits for the peer's close frame; do it off the caller's path.
		go c.ws.Close(code, reason)
	})
}

// fail sends an error frame for a refused frame; the connection stays up.
func (c *conn) fail(ref string, err error) {
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
