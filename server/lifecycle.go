package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/parley-chat/parley/fileupload"
	"github.com/parley-chat/parley/storage"
)

// DefaultRetentionDays is how long a site keeps the data of a visitor not
// seen since, when its config names no retentionDays (the Chatlayer seed's
// 30 days of inactivity).
const DefaultRetentionDays = 30

// Lifecycle timings: the first retention sweep runs a minute after the
// server starts serving (not during start-up, nor in short tests), then
// hourly; value-log GC every ten minutes.
var (
	sweepDelay    = time.Minute
	sweepInterval = time.Hour
	gcInterval    = 10 * time.Minute
)

// DiskReserve is the free space under which Parley refuses writes (a
// client gets the error frame "internal" and resends later) instead of
// letting Badger find the disk full inside a memory-mapped write, which
// kills the process. Checked every second; writes resume at 9/8 of it.
const DiskReserve = 64 << 20

// lifecycle runs the store's background maintenance while the server
// serves: the sweeps (retention, idle sessions, orphan chunks; on
// PostgreSQL one node at a time, jobs.go), value-log GC and the
// disk-space watch.
type lifecycle struct {
	once   sync.Once
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startLifecycle starts the maintenance loops, once; Serve calls it.
func (s *Server) startLifecycle() {
	s.life.once.Do(func() {
		// Before the first turn, so no turn moves an entry meanwhile.
		if s.badger != nil {
			if n, err := s.badger.BuildSeenIndex(context.Background()); err != nil {
				s.log.Error("retention: building the index failed; sweeps will miss older visitors", "err", err)
			} else if n > 0 {
				s.log.Info("retention: indexed the visitors of an older store", "visitors", n)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		s.life.cancel = cancel
		// The sweeps run on one node at a time (jobs.go).
		s.life.wg.Go(func() { s.jobs.Run(ctx, jobIdle, s.sweepIdleLoop) }) // idle.go
		s.life.wg.Go(func() { s.jobs.Run(ctx, jobRetention, s.retentionLoop) })
		if s.node != nil {
			s.life.wg.Go(func() { s.jobs.Run(ctx, jobNodes, s.sweepNodesLoop) }) // cluster.go
		}
		if s.orphans != nil {
			s.life.wg.Go(func() { s.jobs.Run(ctx, jobOrphans, s.orphansLoop) })
		}
		// Each node's own upkeep.
		s.life.wg.Go(func() { s.watchStore(ctx) }) // storehealth.go
		if s.badger != nil {
			s.life.wg.Go(func() { s.gcLoop(ctx) })
			s.life.wg.Go(func() { s.watchDisk(ctx) })
		}
	})
}

// stopLifecycle stops the maintenance loops and waits for them, so the
// store can close; safe to call when they never started.
func (s *Server) stopLifecycle() {
	s.life.once.Do(func() {}) // nothing starts after this
	if s.life.cancel != nil {
		s.life.cancel()
		s.life.wg.Wait()
	}
}

// watchDisk refuses writes while the data directory's disk is under
// DiskReserve, logging each change.
func (s *Server) watchDisk(ctx context.Context) {
	err := s.badger.WatchDisk(ctx, storage.DiskWatch{Reserve: DiskReserve, OnChange: func(full bool, free uint64) {
		if full {
			s.log.Error("disk nearly full: refusing writes until space is freed", "dir", s.cfg.DataDir, "freeBytes", free, "reserveBytes", DiskReserve)
		} else {
			s.log.Info("disk space is back: accepting writes", "dir", s.cfg.DataDir, "freeBytes", free)
		}
	}})
	if err != nil {
		s.log.Warn("cannot watch the free disk space; a full disk will stop Parley", "err", err)
	}
}

// retentionLoop sweeps retention (and deletes the failed sign-in counts
// that say nothing any more) sweepDelay after it starts, then every
// sweepInterval, until ctx ends: while this node holds the job.
func (s *Server) retentionLoop(ctx context.Context) {
	every(ctx, sweepDelay, sweepInterval, func() {
		s.jobs.runs.ran(jobRetention)
		s.SweepRetention(ctx)
		s.clearSignInFailures(ctx)
	})
}

// orphansLoop removes the chunks of uploads a crash cut short on the
// retention sweep's schedule, while this node holds the job (PostgreSQL).
func (s *Server) orphansLoop(ctx context.Context) {
	every(ctx, sweepDelay, sweepInterval, func() {
		s.jobs.runs.ran(jobOrphans)
		s.sweepOrphans(ctx)
	})
}

// gcLoop collects Badger's value-log garbage every gcInterval until ctx
// ends.
func (s *Server) gcLoop(ctx context.Context) {
	every(ctx, gcInterval, gcInterval, func() { s.collectGarbage(ctx) })
}

// every runs fn after first, then every interval, until ctx ends.
func every(ctx context.Context, first, interval time.Duration, fn func()) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
			t.Reset(interval)
		}
	}
}

// Retention is the configured retention of every site: the config's
// retentionDays, else DefaultRetentionDays. Sites no longer configured
// keep their data: deleting is not done on a guess.
func (s *Server) Retention() storage.Retention {
	r := storage.Retention{Sites: map[string]time.Duration{}}
	conf := s.conf.Load()
	for _, site := range conf.Sites {
		days, ok := conf.RetentionDays[site.ID]
		if !ok {
			days = DefaultRetentionDays
		}
		r.Sites[site.ID] = time.Duration(days) * 24 * time.Hour
	}
	return r
}

// SweepRetention erases the visitors whose site's retention has passed
// since they were last seen, as of the configured clock, and logs what it
// did. The maintenance loop calls it hourly.
func (s *Server) SweepRetention(ctx context.Context) (storage.SweepResult, error) {
	start := time.Now()
	res, err := s.Store.SweepRetention(ctx, s.cfg.Now(), s.Retention())
	if err != nil && ctx.Err() == nil {
		s.log.Error("retention sweep failed", "err", err, "visitors", res.Visitors)
		return res, err
	}
	if res.Visitors > 0 || res.Stale > 0 {
		s.log.Info("retention sweep", "visitors", res.Visitors, "sessions", res.Sessions, "files", res.Files,
			"keys", res.Keys, "staleEntries", res.Stale, "took", time.Since(start).Round(time.Millisecond))
	}
	return res, err
}

// sweepOrphans deletes the chunks of uploads a crash cut short (on
// PostgreSQL; Badger's go at start, prepareStore), those begun more than
// twice the longest an upload may take ago, so no node's upload in flight
// loses its chunks.
func (s *Server) sweepOrphans(ctx context.Context) {
	if s.orphans == nil {
		return
	}
	limits := s.cfg.UploadLimits
	maxUpload := cmp.Or(limits.MaxDuration, fileupload.DefaultMaxDuration)
	n, err := s.orphans(ctx, s.cfg.Now().Add(-2*maxUpload))
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Error("uploads: removing chunks of unfinished uploads failed", "err", err)
	case n > 0:
		s.log.Info("uploads: removed chunks of unfinished uploads", "files", n)
	}
}

// clearSignInFailures deletes the failed sign-in counts of the addresses
// that have their whole budget back, on a store that keeps them
// (PostgreSQL; Badger's are in the admin's memory, which forgets its own).
func (s *Server) clearSignInFailures(ctx context.Context) {
	st, ok := s.Store.(interface {
		DeleteClearSignInFailures(ctx context.Context) (int64, error)
	})
	if !ok {
		return
	}
	if _, err := st.DeleteClearSignInFailures(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("admin: deleting old failed sign-in counts failed", "err", err)
	}
}

// collectGarbage runs value-log GC, first flushing Badger's memtables if
// many files were erased (storage.Store.ReclaimSpace), and logs what it
// reclaimed.
func (s *Server) collectGarbage(ctx context.Context) {
	if s.badger == nil {
		return // PostgreSQL reclaims its own space (autovacuum)
	}
	n, err := s.badger.ReclaimSpace(ctx, false)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Error("value-log gc failed", "err", err)
	case n > 0:
		s.log.Info("value-log gc", "filesRewritten", n)
	}
}

// checkDataDir makes sure the data directory can be created and written
// before anything opens in it, and says what to do when it cannot.
func checkDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return explainDirError(dir, "create", err)
	}
	f, err := os.CreateTemp(dir, ".parley-write-check-*")
	if err != nil {
		return explainDirError(dir, "write to", err)
	}
	_, err = f.Write([]byte("ok"))
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	os.Remove(f.Name())
	if err != nil {
		return explainDirError(dir, "write to", err)
	}
	return nil
}

// explainDirError words a failure to use the data directory as advice.
func explainDirError(dir, act string, err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("no permission to %s the data directory %s as user %d (make it that user's, e.g. chown -R %d %s, or pass another --data): %w",
			act, dir, os.Geteuid(), os.Geteuid(), dir, err)
	case strings.Contains(msg, "read-only file system"):
		return fmt.Errorf("the data directory %s is on a read-only file system (mount it writable or pass another --data): %w", dir, err)
	case strings.Contains(msg, "no space left"):
		return fmt.Errorf("no space left for the data directory %s (free some disk space, then start again): %w", dir, err)
	}
	return fmt.Errorf("cannot %s the data directory %s: %w", act, dir, err)
}
