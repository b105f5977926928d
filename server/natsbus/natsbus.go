// Package natsbus is the bus between Parley nodes (widget.Bus) on NATS:
// a node publishes what every tab of a session sees on the session's
// subject, asks a session's owner node on that node's subject, and hears
// erasures and console events on subjects every node listens to
// (README, "Several nodes").
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parley-chat/parley/widget"
)

// lanes is how many goroutines run the subscriptions' handlers: a
// subject always goes to the same lane, so its messages keep their
// order, and a node with thousands of sessions subscribed runs a few
// goroutines rather than one per subscription.
const lanes = 8

// laneQueue is how many messages one lane holds before NATS drops the
// newest (a slow consumer, logged); the tabs make up for a dropped frame
// from the store when they reconnect.
const laneQueue = 4096

// flushTimeout bounds a Flush whose context has no deadline.
const flushTimeout = 5 * time.Second

// Bus is a connection to NATS. It is safe for concurrent use.
type Bus struct {
	nc   *nats.Conn
	log  *slog.Logger
	seed maphash.Seed

	lanes    [lanes]chan *nats.Msg
	handlers sync.Map // *nats.Subscription → func([]byte)
	done     chan struct{}
	wg       sync.WaitGroup
}

var _ widget.Bus = (*Bus)(nil)

// Connect connects to the NATS servers url names (nats://host:4222, or a
// comma-separated list), as name, and keeps reconnecting for as long as
// the bus is open: a node goes on serving the tabs it holds while NATS
// is away.
func Connect(url, name string, log *slog.Logger) (*Bus, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nc, err := nats.Connect(url,
		nats.Name(name),
		// A node hears its own notes from its own hub, never twice.
		nats.NoEcho(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: the bus closed
				log.Warn("bus: disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("bus: reconnected to NATS", "server", c.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("bus: NATS error", "subject", subject, "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect: %w", err)
	}
	b := &Bus{nc: nc, log: log, seed: maphash.MakeSeed(), done: make(chan struct{})}
	for i := range b.lanes {
		b.lanes[i] = make(chan *nats.Msg, laneQueue)
		b.wg.Add(1)
		go b.run(b.lanes[i])
	}
	return b, nil
}

// run calls the handlers of one lane's messages, in order.
func (b *Bus) run(lane chan *nats.Msg) {
	defer b.wg.Done()
	for {
		select {
		case m := <-lane:
			if h, ok := b.handlers.Load(m.Sub); ok {
				h.(func([]byte))(m.Data)
			}
		case <-b.done:
			return
		}
	}
}

// Publish sends data to the subject's subscribers, at most once; while
// NATS is away the message waits in the client's reconnect buffer.
func (b *Bus) Publish(subject string, data []byte) error {
	if err := b.nc.Publish(subject, data); err != nil {
		return fmt.Errorf("natsbus: publish %s: %w", subject, err)
	}
	return nil
}

// Request sends data to the node serving subject and returns its answer,
// widget.ErrNoNode when no node serves it.
func (b *Bus) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	m, err := b.nc.RequestWithContext(ctx, subject, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, widget.ErrNoNode
	}
	if err != nil {
		return nil, fmt.Errorf("natsbus: request %s: %w", subject, err)
	}
	return m.Data, nil
}

// Subscribe calls handle with the subject's messages, in order, on the
// subject's lane, until unsubscribe.
func (b *Bus) Subscribe(subject string, handle func([]byte)) (func(), error) {
	lane := b.lanes[maphash.String(b.seed, subject)%lanes]
	sub, err := b.nc.ChanSubscribe(subject, lane)
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribe %s: %w", subject, err)
	}
	b.handlers.Store(sub, handle)
	return func() {
		b.handlers.Delete(sub)
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			b.log.Debug("bus: unsubscribe", "subject", subject, "err", err)
		}
	}, nil
}

// Serve answers the subject's requests, each on a goroutine of its own
// (an owner's turn waits for the store), until stop.
func (b *Bus) Serve(subject string, answer func([]byte) []byte) (func(), error) {
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) {
		go func() {
			if err := m.Respond(answer(m.Data)); err != nil {
				b.log.Debug("bus: answer lost", "subject", subject, "err", err)
			}
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: serve %s: %w", subject, err)
	}
	return func() { sub.Unsubscribe() }, nil
}

// Flush returns once the NATS server has every subscription made so far.
func (b *Bus) Flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("natsbus: flush: %w", err)
	}
	return nil
}

// Ping reports whether the bus is connected: /readyz.
func (b *Bus) Ping() error {
	if !b.nc.IsConnected() {
		return fmt.Errorf("natsbus: not connected to NATS (%s)", b.nc.Status())
	}
	return nil
}

// Close drains nothing: what is in flight is lost, as on a crash, and
// the tabs make up for it from the store.
func (b *Bus) Close() {
	b.nc.Close()
	close(b.done)
	b.wg.Wait()
}

// Stats are the connection's counts since it opened: messages and bytes
// sent and received (publishes, requests and their answers alike), and
// reconnections.
func (b *Bus) Stats() nats.Statistics { return b.nc.Stats() }
