package server

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/storage"
)

// storeProbeInterval is how often the store is asked whether it answers.
const storeProbeInterval = time.Second

// storeHealth is whether the store answered its last probe: a PostgreSQL
// server can go away and come back while Parley runs, and an operator
// needs to see the outage in the log and the metrics, not only in the
// turns that failed meanwhile.
type storeHealth struct {
	down     atomic.Bool
	outages  atomic.Int64
	downFrom time.Time // when the current outage began (probe loop only)
}

// probeStore asks the store for a record that does not exist: any answer
// but ErrNotFound means it cannot read.
func (s *Server) probeStore(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := s.Store.Visitor(ctx, "readyz-probe"); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}

// watchStore probes the store every storeProbeInterval until ctx ends,
// logging each outage when it begins and when it ends.
func (s *Server) watchStore(ctx context.Context) {
	t := time.NewTicker(storeProbeInterval)
	defer t.Stop()
	h := &s.health
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.probeStore(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !h.down.Load():
			h.down.Store(true)
			h.outages.Add(1)
			h.downFrom = time.Now()
			s.log.Error("store: not answering; turns, uploads and admin reads fail until it is back", "err", err)
		case err == nil && h.down.Load():
			h.down.Store(false)
			s.log.Info("store: answering again", "outage", time.Since(h.downFrom).Round(time.Millisecond))
		}
	}
}

// storeMetrics are the store's health series.
func (s *Server) storeMetrics() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_store_up",
			Help: "1 while the store answered its last probe (every second), 0 during an outage.",
		}, func() float64 {
			if s.health.down.Load() {
				return 0
			}
			return 1
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_store_outages_total",
			Help: "Times the store stopped answering its probe.",
		}, func() float64 { return float64(s.health.outages.Load()) }),
	}
}
