package storage

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("storage: not found")

// ErrUnavailable is returned, wrapped around the cause, when the store
// cannot be reached (a PostgreSQL server down or restarting): the request
// may succeed if tried again in a moment.
var ErrUnavailable = errors.New("storage: the store is not answering")

// ErrTooLarge is returned when a record would exceed its size cap.
var ErrTooLarge = errors.New("storage: record too large")

// Options tune the store. The zero value is a sensible small-server setup.
type Options struct {
	// SyncWrites makes every commit fsync before it returns. Without it a
	// commit survives the process being killed (it is in the OS page cache)
	// but not a power loss.
	SyncWrites bool
	// Logger receives Badger's warnings and errors; nil discards them.
	Logger *slog.Logger
	// InMemory keeps everything in memory (tests and benchmarks only).
	InMemory bool
	// ReadOnly opens an existing store without writing to it: it fails
	// with ErrNotAStore where there is no store and ErrUnclean where
	// Badger must replay its log first (a crash); writes fail.
	ReadOnly bool
	// IndexDelay is how long committed turns wait to be folded into the
	// session records, visitor rollups and admin indexes (indexer.go);
	// reads fold what is pending first, so it changes no answer. Zero
	// means 5 s.
	IndexDelay time.Duration

	// memTableSize overrides defaultMemTableSize (tests: a small memtable
	// makes Badger's transaction limit small enough to reach quickly).
	memTableSize int64
}

// defaultMemTableSize is the size of each of Badger's memtables. Badger
// takes at most 15 % of it in one transaction (see Store.batchBytes).
const defaultMemTableSize = 16 << 20

// ErrNotAStore is returned by a read-only Open of a directory that holds
// no store.
var ErrNotAStore = errors.New("storage: no store in the directory")

// ErrUnclean is returned by a read-only Open of a store that was not
// closed cleanly (a crash or a kill): its log must be replayed, which
// writes, before it can be read.
var ErrUnclean = errors.New("storage: the store was not closed cleanly")

// Store is Parley's record store. It is safe for concurrent use.
type Store struct {
	db *badger.DB
	// batchBytes bounds what one write transaction of many small keys
	// holds (a group commit, a fold's deletes), far under Badger's limit
	// (15 % of a memtable), so none fails for its size.
	batchBytes int
	// chunks keeps the bytes of files (chunks.go).
	chunks chunkStore

	// usageMu serialises the writers of the usage counters and the
	// funnel's start shard (the count of new sessions, startcount.go, and
	// Bulk), so their read-modify-writes never conflict and retry.
	usageMu sync.Mutex

	// diskFull refuses writes while the disk is nearly full (WatchDisk, disk.go).
	diskFull atomic.Bool
	// erasedBytes counts file bytes erased since the last ReclaimSpace (vlog.go).
	erasedBytes atomic.Int64

	// refused counts refused starts not yet stored (refused.go).
	refusedMu sync.Mutex
	refused   map[refusalCell]uint64

	// commits group-commits the turns and idx folds them into the records
	// behind them (commit.go, indexer.go); both nil when read-only.
	commits *committer
	idx     *indexer
	// counts adds new sessions to the usage and funnel counters behind
	// their starts (startcount.go); nil when read-only.
	counts *startCounts
	log    *slog.Logger
	// turnLocks serialise the turns of a session recorded without an
	// owner (Turn.Prev nil).
	turnLocks [turnStripes]sync.Mutex
	closeOnce sync.Once
	// onErase, if set, is told of a visitor whose erasure has begun.
	onErase atomic.Pointer[func(visitorID string)]
	// onMerge, if set, is told of a visitor merged into another (identify.go).
	onMerge atomic.Pointer[func(from, into string, sessions []string)]
	// ob routes webhook events into the outbox (outbox.go).
	ob outbox
	// idle is SweepIdle's position (idle.go).
	idle idleSweep
}

// Open opens (creating if needed) the store in dir. It fails if another
// process holds the directory. Every file the store creates is 0600 (and
// any directory 0700), whatever dir's mode: Open sets the process's umask
// to 077 (see privateUmask).
func Open(dir string, opts Options) (*Store, error) {
	if !opts.InMemory {
		privateUmask()
	}
	memTableSize := cmp.Or(opts.memTableSize, defaultMemTableSize)
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(opts.SyncWrites).
		WithLogger(badgerLogger{opts.Logger}).
		WithInMemory(opts.InMemory).
		WithReadOnly(opts.ReadOnly).
		// Sized for a small server: two 16 MiB memtables, modest caches,
		// values over 4 KiB (file chunks) go to the value log. Level 0
		// compacts at five tables (Badger's default): every level-0
		// table spans the whole key space, so each such compaction
		// rewrites all of the next level, and waiting for five rather
		// than two costs a turn 6-13 % less CPU (README, Performance).
		WithMemTableSize(memTableSize).
		WithNumMemtables(2).
		WithNumLevelZeroTables(5).
		WithNumLevelZeroTablesStall(15).
		// 2 MiB tables: Badger builds each table in memory (up to 8 +
		// its splits at once in a compaction, and keeps 8 builders'
		// buffers pooled), so the table size sets most of the heap
		// under write load: 2 MiB rather than 4 held 17 % less RSS at
		// 5,000 visitors, with no CPU cost measurable.
		WithBaseTableSize(2 << 20).
		// 8 KiB blocks rather than 4: half the blocks to index and
		// compress, a fifth less on disk (records compress better in
		// larger blocks), 3-6 % less CPU a turn. 16 KiB saved more but
		// made the admin views that seek to a random place 20-35 %
		// slower (each read decompresses a larger block).
		WithBlockSize(8 << 10).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(8 << 20).
		WithValueThreshold(4 << 10).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2)
	if opts.InMemory {
		bo = bo.WithDir("").WithValueDir("")
	}
	if opts.ReadOnly {
		// Badger would create the directory and its files otherwise.
		if _, err := os.Stat(filepath.Join(dir, badger.ManifestFilename)); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("storage: open %s: %w", dir, ErrNotAStore)
		}
	}
	db, err := badger.Open(bo)
	// Badger flattens the error to text on the way up.
	if err != nil && opts.ReadOnly && strings.Contains(err.Error(), badger.ErrTruncateNeeded.Error()) {
		return nil, fmt.Errorf("storage: open %s: %w: %v", dir, ErrUnclean, err)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	s := &Store{db: db, log: opts.Logger, batchBytes: int(memTableSize / 32)}
	s.chunks = &badgerChunks{st: s}
	if opts.ReadOnly {
		return s, nil
	}
	// Turns a crash left unfolded go into the records before anything else.
	if _, err := s.recoverTurns(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: open %s: fold the turns left by a crash: %w", dir, err)
	}
	s.counts = newStartCounts(s)
	if err := s.recoverStarts(); err != nil {
		s.counts.close()
		db.Close()
		return nil, fmt.Errorf("storage: open %s: count the sessions left by a crash: %w", dir, err)
	}
	delay := opts.IndexDelay
	if delay <= 0 {
		delay = defaultIndexDelay
	}
	if err := s.loadOutbox(); err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: open %s: count the webhook outbox: %w", dir, err)
	}
	s.commits = newCommitter(s)
	s.idx = newIndexer(s, delay)
	return s, nil
}

// Close folds the pending turns, stores the refusals still counted in
// memory, flushes and closes the store.
func (s *Store) Close() error {
	var ferr error
	s.closeOnce.Do(func() {
		if s.commits != nil {
			s.commits.close()
			if err := s.idx.close(); err != nil {
				ferr = fmt.Errorf("storage: close: fold pending turns: %w", err)
			}
		}
		if s.counts != nil {
			if err := s.counts.close(); err != nil {
				ferr = errors.Join(ferr, fmt.Errorf("storage: close: %w", err))
			}
		}
	})
	errFlush := s.FlushRefused(context.Background())
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return errors.Join(ferr, errFlush)
}

// OnErase registers fn to be told (on the goroutine erasing) of every
// visitor whose erasure begins, so the owner of its live sessions stops
// them (widget.Gateway.DropVisitor).
func (s *Store) OnErase(fn func(visitorID string)) { s.onErase.Store(&fn) }

// logError logs a failure of work done behind the callers' backs.
func (s *Store) logError(msg string, err error) {
	if s.log != nil {
		s.log.Error(msg, "err", err)
	}
}

// Scan calls fn with every key under prefix ("" for all), in key order,
// and its value, all read in one snapshot taken after folding the
// committed turns (indexer.go). It is for checking what the store holds
// (an erased visitor left nothing, a restore equals its source), not for
// serving reads: those go through the record API. fn must not keep v.
func (s *Store) Scan(ctx context.Context, prefix string, fn func(k string, v []byte) error) error {
	if err := s.settle(ctx); err != nil {
		return fmt.Errorf("storage: scan: %w", err)
	}
	err := s.db.View(func(txn *badger.Txn) error {
		return eachValue(ctx, txn, []byte(prefix), func(k, v []byte) error { return fn(string(k), v) })
	})
	if err != nil {
		return fmt.Errorf("storage: scan: %w", err)
	}
	return nil
}

// update runs fn in a read-write transaction, retrying on conflicts. It
// refuses to write while the disk is nearly full.
func (s *Store) update(ctx context.Context, fn func(txn *badger.Txn) error) error {
	return s.retryUpdate(ctx, true, fn)
}

// retryUpdate is update; refuseWhenFull=false lets deletions through while
// the disk is nearly full, since deleting is how space comes back.
func (s *Store) retryUpdate(ctx context.Context, refuseWhenFull bool, fn func(txn *badger.Txn) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if refuseWhenFull && s.diskFull.Load() {
			return ErrDiskFull
		}
		err := s.db.Update(fn)
		if errors.Is(err, badger.ErrConflict) && attempt < 32 {
			// Writers of one record (a visitor's sessions, an erase) collide;
			// after a few quick retries, back off a random while so they
			// stop colliding in lockstep.
			if attempt >= 3 {
				time.Sleep(time.Duration(rand.IntN(attempt*200)+1) * time.Microsecond)
			}
			continue
		}
		if errors.Is(err, badger.ErrBlockedWrites) && attempt < 16 {
			// ReclaimSpace (vlog.go) holds writes for a few milliseconds.
			time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
			continue
		}
		return err
	}
}

// getJSON reads key into v, translating Badger's not-found into ErrNotFound.
func getJSON(txn *badger.Txn, key []byte, v any) error {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return item.Value(func(b []byte) error { return json.Unmarshal(b, v) })
}

// getCached reads key into out like getJSON, but reuses prev when the
// stored bytes are exactly prevRaw, the bytes prev was decoded from or
// encoded to. On the turn path the gateway holds the records it wrote last,
// so this skips the JSON decoding that otherwise dominates a turn; comparing
// bytes (not versions) keeps it right whoever else wrote the key.
func getCached[T any](txn *badger.Txn, key []byte, prev *T, prevRaw []byte, out *T) (raw []byte, err error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	err = item.Value(func(b []byte) error {
		if prev != nil && bytes.Equal(b, prevRaw) {
			*out, raw = *prev, prevRaw
			return nil
		}
		raw = bytes.Clone(b)
		return json.Unmarshal(raw, out)
	})
	return raw, err
}

// putJSON writes v as JSON under key.
func putJSON(txn *badger.Txn, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return txn.Set(key, b)
}

// key joins parts with '/'.
func key(parts ...string) []byte {
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, p...)
	}
	return b
}

// badgerLogger adapts slog to Badger's logger, dropping info and debug noise.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	if b.l != nil {
		b.l.Error(fmt.Sprintf(f, a...), "component", "badger")
	}
}

func (b badgerLogger) Warningf(f string, a ...any) {
	if b.l != nil {
		b.l.Warn(fmt.Sprintf(f, a...), "component", "badger")
	}
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}
