package storage

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// committer writes the turns of all sessions in group commits: one
// goroutine takes whatever queued while the last batch committed and
// writes it as one Badger transaction of blind sets (a turn reads nothing,
// so the transaction tracks no reads and never conflicts), then answers
// every turn of the batch. With Options.SyncWrites a batch is one fsync. A
// batch that fails fails all its turns and leaves nothing: a transaction
// is all or nothing.
type committer struct {
	s    *Store
	reqs chan *turnWrite
	stop chan struct{}
	done chan struct{}

	// mu is held while a batch is checked and committed; fence takes it to
	// mark a visitor between two batches.
	mu     sync.Mutex
	fenced map[string]bool // visitors being erased: their turns are refused
	// merged maps a visitor just merged into another (identify.go) to it,
	// until the owners of its live sessions know: its turns count to the
	// other visitor.
	merged map[string]string
	seq    uint64 // the last delta key's sequence number, under mu

	batches atomic.Int64 // batches committed, for tests and metrics
}

// commitHook, if set (tests only), runs after a batch's keys are set and
// before it commits; an error fails the batch.
var commitHook func() error

// turnWrite is one turn's keys, ready to commit.
type turnWrite struct {
	visitor string
	session string
	kv      [][2][]byte // key, value; the delta's key is filled in by the committer
	dels    [][]byte    // keys to delete (host variables gone)
	delta   []byte      // d as stored; nil for a turn with nothing to fold
	d       turnDelta   // what the indexer folds
	dkey    []byte      // the delta's key, set by the committer
	size    int
	err     chan error
}

var turnWrites = sync.Pool{New: func() any { return &turnWrite{err: make(chan error, 1)} }}

func newCommitter(s *Store) *committer {
	c := &committer{s: s, reqs: make(chan *turnWrite, 1024), stop: make(chan struct{}), done: make(chan struct{}), fenced: map[string]bool{}, merged: map[string]string{}}
	go c.run()
	return c
}

// write queues w and waits for its batch to commit.
func (c *committer) write(w *turnWrite) error {
	select {
	case <-c.stop:
		return errClosed
	default:
	}
	select {
	case c.reqs <- w:
	case <-c.stop:
		return errClosed
	}
	select {
	case err := <-w.err:
		return err
	case <-c.done:
		// Queued as the store closed: answered before run ended, or never.
		select {
		case err := <-w.err:
			return err
		default:
			return errClosed
		}
	}
}

var errClosed = errors.New("storage: the store is closed")

func (c *committer) close() {
	close(c.stop)
	<-c.done
}

func (c *committer) run() {
	defer close(c.done)
	var batch []*turnWrite
	for {
		var first *turnWrite
		select {
		case first = <-c.reqs:
		case <-c.stop:
			// Answer what is still queued.
			for {
				select {
				case w := <-c.reqs:
					w.err <- errClosed
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
		size := first.size
	more:
		for size < c.s.batchBytes {
			select {
			case w := <-c.reqs:
				batch = append(batch, w)
				size += w.size
			default:
				break more
			}
		}
		c.commit(batch)
		clear(batch)
	}
}

// commit writes a batch as one transaction and answers its turns.
func (c *committer) commit(batch []*turnWrite) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ok := batch[:0:0]
	for _, w := range batch {
		if into := c.merged[w.visitor]; into != "" {
			w.visitor = into
		}
		if c.fenced[w.visitor] {
			w.err <- ErrErasing
			continue
		}
		ok = append(ok, w)
	}
	if len(ok) == 0 {
		return
	}
	var err error
	for attempt := 0; ; attempt++ {
		err = c.commitOnce(ok)
		if errors.Is(err, badger.ErrBlockedWrites) && attempt < 16 {
			// ReclaimSpace (vlog.go) holds writes for a few milliseconds.
			time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
			continue
		}
		break
	}
	if err == nil {
		c.s.idx.mark(ok)
	}
	for _, w := range ok {
		w.err <- err
	}
}

func (c *committer) commitOnce(batch []*turnWrite) error {
	if c.s.diskFull.Load() {
		return ErrDiskFull
	}
	txn := c.s.db.NewTransaction(true)
	defer txn.Discard()
	seq := c.seq
	for _, w := range batch {
		for _, kv := range w.kv {
			if err := txn.Set(kv[0], kv[1]); err != nil {
				return err
			}
		}
		for _, k := range w.dels {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		if w.delta == nil {
			continue // nothing to fold (encodeTurn)
		}
		seq++
		w.dkey = deltaKey(w.session, seq)
		if err := txn.Set(w.dkey, w.delta); err != nil {
			return err
		}
	}
	if commitHook != nil {
		if err := commitHook(); err != nil {
			return err
		}
	}
	if err := txn.Commit(); err != nil {
		return err
	}
	c.seq = seq
	c.batches.Add(1)
	return nil
}
