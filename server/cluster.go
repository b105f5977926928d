package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/server/natsbus"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/widget"
)

// ClusterConfig makes the server one node of several sharing a
// PostgreSQL store, with NATS between them (README, "Several nodes").
type ClusterConfig struct {
	// Bus is the NATS URL (nats://host:4222, or several comma-separated);
	// empty: one node alone.
	Bus string
	// Name names the node for operators (default host/pid).
	Name string
	// Lease is how long a node that stops renewing (killed, cut off)
	// keeps its sessions before other nodes take them over; it renews
	// every third of it (default 6 s).
	Lease time.Duration
}

// DefaultNodeLease is ClusterConfig.Lease's default.
const DefaultNodeLease = 6 * time.Second

// deadNodeGrace is how long a dead node's row (and the ownership rows of
// sessions nobody came back to) stays before the sweep deletes it.
const deadNodeGrace = time.Hour

// clusterStore is what a node needs of its store: PostgreSQL's.
type clusterStore interface {
	widget.Owners
	JoinCluster(ctx context.Context, name string, ttl time.Duration) (string, error)
	RenewLease(ctx context.Context) error
	LeaveCluster(ctx context.Context) error
	SweepDeadNodes(ctx context.Context, grace time.Duration) (int, error)
}

var _ clusterStore = (*postgres.Store)(nil)

// node is the server's part in a cluster; nil alone.
type node struct {
	cfg   ClusterConfig
	store clusterStore
	bus   *natsbus.Bus

	cancel context.CancelFunc
	wg     sync.WaitGroup
	left   sync.Once
}

// bindClusterFlags adds the cluster's flags to the serve flags.
func bindClusterFlags(b *limitBinder, c *ClusterConfig) {
	b.fs.StringVar(&c.Bus, "bus", b.getenv("PARLEY_BUS"), "several nodes: the NATS URL between them, nats://host:4222 (needs --store postgres://…; PARLEY_BUS)")
	b.fs.StringVar(&c.Name, "node-name", b.getenv("PARLEY_NODE_NAME"), "several nodes: this node's name in logs and in the nodes table (default host/pid; PARLEY_NODE_NAME)")
	b.dur(&c.Lease, "node-lease", "PARLEY_NODE_LEASE", "several nodes: how long a node that stopped answering keeps its sessions before others take them over (0: 6s)")
}

// joinCluster makes the server a node of its store's cluster when
// cfg.Cluster.Bus names a bus: it registers the node, connects to NATS,
// joins the gateway and keeps the lease renewed.
func (s *Server) joinCluster() error {
	cfg := s.cfg.Cluster
	if cfg.Bus == "" {
		return nil
	}
	st, ok := s.Store.(clusterStore)
	if !ok {
		return errors.New("server: --bus needs a shared store: --store postgres://…")
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultNodeLease
	}
	if cfg.Name == "" {
		host, _ := os.Hostname()
		cfg.Name = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := st.JoinCluster(ctx, cfg.Name, cfg.Lease)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	bus, err := natsbus.Connect(cfg.Bus, "parley "+cfg.Name, s.log)
	if err != nil {
		st.LeaveCluster(ctx)
		return fmt.Errorf("server: %w", err)
	}
	if err := s.Gateway.JoinCluster(widget.Cluster{Owners: st, Bus: bus}); err != nil {
		bus.Close()
		st.LeaveCluster(ctx)
		return fmt.Errorf("server: %w", err)
	}
	n := &node{cfg: cfg, store: st, bus: bus}
	loop, stop := context.WithCancel(context.Background())
	n.cancel = stop
	n.wg.Go(func() { s.keepLease(loop, n) })
	s.node = n
	s.log.Info("joined the cluster", "node", id, "name", cfg.Name, "lease", cfg.Lease)
	return nil
}

// keepLease renews the node's lease every third of it. A lease that
// passed (the node stalled or was cut off from the database that long)
// cannot be renewed: its sessions may have moved, so the node joins again
// under a new ID and claims what its tabs need anew.
func (s *Server) keepLease(ctx context.Context, n *node) {
	t := time.NewTicker(n.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, n.cfg.Lease/3)
			err := n.store.RenewLease(rctx)
			cancel()
			switch {
			case errors.Is(err, postgres.ErrLeaseLost):
				s.rejoin(ctx, n)
			case err != nil && ctx.Err() == nil:
				s.log.Warn("node lease not renewed", "err", err)
			}
		}
	}
}

// sweepNodesLoop deletes the nodes dead for longer than deadNodeGrace,
// and what they still owned, every sweepNodesEvery; one node at a time
// runs it (the nodes job).
func (s *Server) sweepNodesLoop(ctx context.Context) {
	every(ctx, sweepNodesEvery, sweepNodesEvery, func() {
		s.jobs.runs.ran(jobNodes)
		if k, err := s.node.store.SweepDeadNodes(ctx, deadNodeGrace); err != nil && ctx.Err() == nil {
			s.log.Warn("dead nodes not swept", "err", err)
		} else if k > 0 {
			s.log.Info("swept dead nodes", "nodes", k)
		}
	})
}

// sweepNodesEvery is how often dead nodes are swept.
const sweepNodesEvery = 10 * time.Minute

// rejoin makes the node a new node after its lease passed.
func (s *Server) rejoin(ctx context.Context, n *node) {
	old := n.store.Node()
	id, err := n.store.JoinCluster(ctx, n.cfg.Name, n.cfg.Lease)
	if err != nil {
		s.log.Error("node lease lost, and joining again failed", "node", old, "err", err)
		return
	}
	if err := s.Gateway.Rejoined(); err != nil {
		s.log.Error("node lease lost, and serving the new node failed", "node", id, "err", err)
		return
	}
	s.log.Warn("node lease lost: joined again as a new node; other nodes may have taken sessions over", "old", old, "node", id)
}

// leaveCluster ends the node's part, once its sockets closed: its
// sessions are released at once, so other nodes take them without
// waiting for the lease.
func (s *Server) leaveCluster() error {
	n := s.node
	if n == nil {
		return nil
	}
	var err error
	n.left.Do(func() {
		n.cancel()
		n.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = n.store.LeaveCluster(ctx)
		n.bus.Close()
	})
	return err
}

// probeBus reports whether the node reaches the bus; nil alone.
func (s *Server) probeBus() error {
	if n := s.node; n != nil {
		return n.bus.Ping()
	}
	return nil
}

// busMetrics are the bus's series, none for a node alone.
func (s *Server) busMetrics() []prometheus.Collector {
	n := s.node
	if n == nil {
		return nil
	}
	stat := func(name, help string, v func(nats.Statistics) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(n.bus.Stats())) })
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_bus_up",
			Help: "1 while this node is connected to NATS, else 0 (several nodes).",
		}, func() float64 {
			if n.bus.Ping() != nil {
				return 0
			}
			return 1
		}),
		stat("parley_bus_messages_sent_total", "Messages this node sent over NATS: notes to other nodes' tabs, forwarded frames, answers.",
			func(s nats.Statistics) uint64 { return s.OutMsgs }),
		stat("parley_bus_messages_received_total", "Messages this node received over NATS.",
			func(s nats.Statistics) uint64 { return s.InMsgs }),
		stat("parley_bus_bytes_sent_total", "Bytes this node sent over NATS.",
			func(s nats.Statistics) uint64 { return s.OutBytes }),
		stat("parley_bus_reconnects_total", "Times this node reconnected to NATS after losing it.",
			func(s nats.Statistics) uint64 { return s.Reconnects }),
	}
}
