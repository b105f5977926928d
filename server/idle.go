package server

import (
	"context"
	"time"

	"github.com/parley-chat/parley/storage"
)

// IdleSweepConfig bounds the sweep that writes session.ended for the
// sessions that timed out (storage.Store.SweepIdle).
type IdleSweepConfig struct {
	// Every is the time between two sweeps; a timed-out session's event
	// goes out at most this late. 0: DefaultIdleSweepEvery.
	Every time.Duration
	// Limit bounds the sessions one sweep looks at; a sweep that stops at
	// it runs again a second later. 0: storage.DefaultIdleSweepLimit.
	Limit int
}

// DefaultIdleSweepEvery is IdleSweepConfig.Every's default.
const DefaultIdleSweepEvery = time.Minute

// idleAgain is the wait before the next sweep when one stopped at its limit.
var idleAgain = time.Second

// bindIdleFlags adds the idle sweep's bounds to the serve flags.
func bindIdleFlags(b *limitBinder, c *IdleSweepConfig) {
	b.dur(&c.Every, "idle-sweep-every", "PARLEY_IDLE_SWEEP_EVERY", "time between two looks for sessions idle past their timeout, which get session.ended (0: 1m)")
	b.int(&c.Limit, "idle-sweep-limit", "PARLEY_IDLE_SWEEP_LIMIT", "sessions one such look reads; more are read a second later (0: 1000)")
}

// SweepIdle writes session.ended (reason timeout) for the sessions idle
// past their site's session timeout, as of the configured clock, and logs
// what it did. The maintenance loop calls it at start and every
// IdleSweep.Every.
func (s *Server) SweepIdle(ctx context.Context) (storage.IdleSweep, error) {
	res, err := s.Store.SweepIdle(ctx, s.cfg.Now(), s.Gateway, s.cfg.IdleSweep.Limit)
	if err != nil && ctx.Err() == nil {
		s.log.Error("idle sweep failed", "err", err, "ended", res.Ended)
		return res, err
	}
	if res.Ended > 0 {
		s.log.Info("idle sweep: sessions timed out", "ended", res.Ended, "scanned", res.Scanned)
	}
	return res, err
}

// sweepIdleLoop sweeps at once (what timed out while Parley was down, or
// since the node that swept stopped), then on its schedule, sooner while
// a sweep leaves work, until ctx ends: while this node holds the job.
func (s *Server) sweepIdleLoop(ctx context.Context) {
	every := s.cfg.IdleSweep.Every
	if every <= 0 {
		every = DefaultIdleSweepEvery
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.jobs.runs.ran(jobIdle)
			res, err := s.SweepIdle(ctx)
			if err == nil && res.More {
				t.Reset(idleAgain)
			} else {
				t.Reset(every)
			}
		}
	}
}
