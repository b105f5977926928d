package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// turnPath is the store's turn machinery: the group committer and the
// locks of turns recorded without an owner.
type turnPath struct {
	commits *committer
	locks   [turnStripes]sync.Mutex
}

// maxBatch bounds the turns of one commit, so one batch stays a modest
// message and a slow commit delays few turns.
const maxBatch = 256

// committer writes the turns of all sessions in group commits: one
// goroutine takes whatever queued while the last commit ran and sends it
// as one batch (one statement per turn, turnSQL), which PostgreSQL runs
// as one implicit transaction: one round trip per commit, however many
// turns it carries. It then answers every turn. A commit that fails
// leaves nothing written (the transaction rolls back); when it failed
// for one turn's data (a statement error, not the connection), the turns
// are committed again one by one, so only that turn fails.
type committer struct {
	s       *Store
	reqs    chan *turnWrite
	stop    chan struct{}
	done    chan struct{}
	timeout time.Duration
	once    sync.Once

	// batches counts the commits that reached the database and committed,
	// for tests and the benchmark's round trips per turn.
	batches atomic.Int64
}

func newCommitter(s *Store, timeout time.Duration) *committer {
	c := &committer{s: s, reqs: make(chan *turnWrite, 1024), stop: make(chan struct{}), done: make(chan struct{}), timeout: timeout}
	go c.run()
	return c
}

var errClosed = errors.New("postgres: the store is closed")

// write queues w and waits for its commit, or for ctx: a caller that
// gives up gets ctx's error (the turn may still commit: its client ID
// makes a resend safe).
func (c *committer) write(ctx context.Context, w *turnWrite) error {
	select {
	case <-c.stop:
		return errClosed
	default:
	}
	select {
	case c.reqs <- w:
	case <-c.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-w.err:
		return err
	case <-ctx.Done():
		return ctx.Err()
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

func (c *committer) close() {
	c.once.Do(func() { close(c.stop) })
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
	more:
		for len(batch) < maxBatch {
			select {
			case w := <-c.reqs:
				batch = append(batch, w)
			default:
				break more
			}
		}
		c.commit(batch)
		clear(batch)
	}
}

// commit writes a batch and answers its turns. The node is read once, so
// the turns it refuses as stale and the lease the commit checks are the
// same node's (owners.go).
func (c *committer) commit(batch []*turnWrite) {
	n := c.s.node.Load()
	batch = slices.DeleteFunc(batch, func(w *turnWrite) bool {
		if n.refuses(w) {
			w.answer(errStaleNode)
			return true
		}
		return false
	})
	if len(batch) == 0 {
		return
	}
	c.commitWith(n, batch)
}

// commitWith commits the batch under node n (nil alone).
func (c *committer) commitWith(n *clusterNode, batch []*turnWrite) {
	errs := c.commitOnce(n, batch)
	if errs == nil {
		for _, w := range batch {
			w.answer(nil)
		}
		return
	}
	if len(batch) > 1 && isDataError(errs[0]) {
		// One turn's data failed the whole batch: find it.
		for _, w := range batch {
			c.commitWith(n, []*turnWrite{w})
		}
		return
	}
	for i, w := range batch {
		w.answer(errs[i])
	}
}

// answer tells the turn's writer how its commit went, and the outbox
// (outbox.go) to release or announce the turn's events.
func (w *turnWrite) answer(err error) {
	if err != nil {
		w.res.Release()
	} else {
		w.res.Committed()
	}
	w.err <- err
}

// commitOnce sends the batch, one statement per round (rounds), and
// returns nil when it committed, else one error per turn: the same for
// all when the transaction failed, the turn's own when it updated no
// session (gone, or its visitor being erased) while the others committed.
func (c *committer) commitOnce(n *clusterNode, batch []*turnWrite) []error {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var b pgx.Batch
	fenced := n.fence(&b) // several nodes: this node's lease first (owners.go)
	rs := rounds(batch)
	for _, round := range rs {
		b.Queue(turnSQL, roundArgs(round)...)
	}
	written := map[*turnWrite]bool{}
	err := func() error {
		br := c.s.pool.SendBatch(ctx, &b)
		if fenced {
			if _, err := br.Exec(); err != nil {
				br.Close()
				if isDataError(err) {
					return ErrLeaseLost
				}
				return err
			}
		}
		for _, round := range rs {
			rows, err := br.Query()
			if err != nil {
				br.Close()
				return err
			}
			ords, err := pgx.CollectRows(rows, pgx.RowTo[int32])
			if err != nil {
				br.Close()
				return err
			}
			for _, k := range ords {
				written[round[k]] = true
			}
		}
		return br.Close()
	}()
	if err != nil {
		err = fmt.Errorf("commit %d turns: %w", len(batch), err)
		errs := make([]error, len(batch))
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	c.batches.Add(1)
	var errs []error
	for i, w := range batch {
		if written[w] {
			continue
		}
		if errs == nil {
			errs = make([]error, len(batch))
		}
		if errs[i] = turnFailed(ctx, c.s.pool, w.session); errs[i] == nil {
			errs[i] = errors.New("the session was not updated")
		}
	}
	return errs
}

// isDataError reports whether err is PostgreSQL refusing a statement's
// data (classes 22 and 23: a bad value, a duplicate key), which fails
// the one turn that carried it, not the connection or the server.
func isDataError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code[:2] == "22" || pe.Code[:2] == "23")
}
