package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrDiskFull is returned by writes while the store's disk has less free
// space than WatchDisk's reserve. Nothing of the refused write is stored;
// writes are accepted again once space is freed.
var ErrDiskFull = errors.New("storage: the disk is nearly full; writes are refused until space is freed")

// DiskWatch configures WatchDisk.
type DiskWatch struct {
	// Reserve is the free space below which writes are refused. It must
	// absorb what is written between two checks: Badger writes its log
	// through memory maps, and a write that finds the disk full there
	// kills the process (SIGBUS) instead of failing.
	Reserve uint64
	// Interval is the time between checks (default 1 s).
	Interval time.Duration
	// Free returns the bytes free for the store; nil asks the file system
	// of the store's directory.
	Free func() (uint64, error)
	// OnChange, if set, is told when writes stop (full) or resume.
	OnChange func(full bool, free uint64)
}

// WatchDisk checks the free space of the store's disk until ctx ends,
// refusing writes with ErrDiskFull while it is under w.Reserve and
// accepting them again once it is back over the reserve plus a margin of
// an eighth. Deletions (erasure, retention) go on: they free space. It
// returns at once, with the probe's error, where free space cannot be read.
func (s *Store) WatchDisk(ctx context.Context, w DiskWatch) error {
	if w.Interval <= 0 {
		w.Interval = time.Second
	}
	if w.Free == nil {
		dir := s.db.Opts().Dir
		w.Free = func() (uint64, error) { return freeBytes(dir) }
	}
	check := func() error {
		free, err := w.Free()
		if err != nil {
			return err
		}
		full := s.diskFull.Load()
		switch {
		case !full && free < w.Reserve:
			full = true
		case full && free >= w.Reserve+w.Reserve/8:
			full = false
		default:
			return nil
		}
		s.diskFull.Store(full)
		if w.OnChange != nil {
			w.OnChange(full, free)
		}
		return nil
	}
	if err := check(); err != nil {
		return fmt.Errorf("storage: watch disk: %w", err)
	}
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			// A failed probe keeps the last state.
			check()
		}
	}
}

// DiskFull reports whether writes are being refused for lack of space.
func (s *Store) DiskFull() bool { return s.diskFull.Load() }
