package storage

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// indexer folds the turns' deltas (turnlog.go) into the session records,
// the visitors' rollups and the admin indexes, behind the turns: a session
// that took many turns since the last fold is rewritten once. Readers of
// those records call Store.settle first, which folds whatever is pending,
// so every answer is exact; a crash leaves the deltas, which Open folds.
type indexer struct {
	s     *Store
	delay time.Duration // how long pending turns wait to be folded together

	mu      sync.Mutex
	pending map[string]*pendingFold // sessions with deltas not yet folded
	wake    chan struct{}

	foldMu   sync.Mutex  // one fold at a time
	leftover foldDeletes // folded deltas a failed delete left, under foldMu
	stop     chan struct{}
	done     chan struct{}
}

// defaultIndexDelay is how long the indexer lets turns gather before it
// folds them: a busy session is rewritten every few seconds, not on every
// turn (the fold writes about as many keys as the turns themselves); what
// a read needs is folded at once, so the delay changes no answer.
const defaultIndexDelay = 5 * time.Second

// foldBatch is how many sessions one fold transaction rewrites.
const foldBatch = 64

// A fold commits in two steps, so that no transaction grows with the
// number of turns folded (Badger refuses one past about 15 % of a
// memtable, and a busy session, or a backlog a crash left, may have
// thousands of deltas). The first writes the records and indexes and, per
// session, a fold mark d/{session}/{seq 0} holding the sequence number of
// the last delta folded; the second deletes the folded deltas in
// transactions of a few thousand keys (deleteBatch), the marks last. A crash in between
// leaves deltas their session's mark says are folded already: recovery
// deletes them without applying them again. Sequence numbers start at 1,
// so the mark sorts before its session's deltas.
// foldMarkKey is the session's fold mark.
func foldMarkKey(sid string) []byte { return deltaKey(sid, 0) }

// foldDeletes is the second step's work: folded deltas (and whatever a gone
// session left), then the fold marks, deleted after every delta they cover.
type foldDeletes struct {
	keys  [][]byte
	marks map[string]bool
}

func (d *foldDeletes) mark(sid string) {
	if d.marks == nil {
		d.marks = map[string]bool{}
	}
	d.marks[sid] = true
}

// add appends e's work to d: e's deltas go before any mark is deleted.
func (d *foldDeletes) add(e foldDeletes) {
	d.keys = append(d.keys, e.keys...)
	for sid := range e.marks {
		d.mark(sid)
	}
}

func (d *foldDeletes) empty() bool { return len(d.keys) == 0 && len(d.marks) == 0 }

// deleteBatch is how many keys one transaction deletes: batchBytes of
// keys with Badger's overhead, 4,096 with 16 MiB memtables.
func (s *Store) deleteBatch() int { return max(1, s.batchBytes/128) }

// deleteFolded runs the fold's second step. On an error the part not
// deleted is left in d, to be tried again.
func (s *Store) deleteFolded(ctx context.Context, d *foldDeletes) error {
	for len(d.keys) > 0 {
		n := min(len(d.keys), s.deleteBatch())
		err := s.updateAnyway(ctx, func(txn *badger.Txn) error {
			for _, k := range d.keys[:n] {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("delete folded turns: %w", err)
		}
		d.keys = d.keys[n:]
	}
	marks := make([]string, 0, len(d.marks))
	for sid := range d.marks {
		marks = append(marks, sid)
	}
	for len(marks) > 0 {
		n := min(len(marks), s.deleteBatch())
		err := s.updateAnyway(ctx, func(txn *badger.Txn) error {
			for _, sid := range marks[:n] {
				if err := txn.Delete(foldMarkKey(sid)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("delete fold marks: %w", err)
		}
		for _, sid := range marks[:n] {
			delete(d.marks, sid)
		}
		marks = marks[n:]
	}
	return nil
}

func newIndexer(s *Store, delay time.Duration) *indexer {
	x := &indexer{s: s, delay: delay, pending: map[string]*pendingFold{}, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go x.run()
	return x
}

// pendingFold is what a session's committed turns change of its records,
// merged in memory as they commit, and the keys of their deltas: a fold
// decodes nothing the turns just encoded.
//
// The visitor's rollups take the latest value by commit order (the email
// given last, the last text), over all its sessions: each input and the
// last text keep the sequence number of their turn's commit, and a
// visitor's pending sessions are always folded together.
type pendingFold struct {
	sid     string
	visitor string // "" when recovered from the store, until read
	d       turnDelta
	keys    [][]byte
	// stale are deltas a crash left that the session's fold mark says are
	// folded already (recovery only): deleted, not applied; marked says
	// the session has a mark to delete.
	stale   [][]byte
	marked  bool
	inputs  []seqInput // d.Inputs with their commit sequence
	textSeq uint64     // the commit sequence of d.Text
}

// seqInput is an input with the commit sequence of its turn.
type seqInput struct {
	seq uint64
	in  Input
}

func (p *pendingFold) add(d *turnDelta, k []byte) {
	if len(p.keys) == 0 {
		p.d = *d
	} else {
		p.d.merge(d)
	}
	p.keys = append(p.keys, k)
	seq := binary.BigEndian.Uint64(k[len(k)-8:])
	for _, in := range d.Inputs {
		p.inputs = append(p.inputs, seqInput{seq, in})
	}
	if d.HasText {
		p.textSeq = seq
	}
}

// then merges the later pending fold q into p.
func (p *pendingFold) then(q *pendingFold) {
	p.d.merge(&q.d)
	p.keys = append(p.keys, q.keys...)
	p.inputs = append(p.inputs, q.inputs...)
	if q.d.HasText {
		p.textSeq = q.textSeq
	}
}

// mark notes the turns of a committed batch as pending.
func (x *indexer) mark(batch []*turnWrite) {
	x.mu.Lock()
	for _, w := range batch {
		if w.delta == nil {
			continue
		}
		p := x.pending[w.session]
		if p == nil {
			p = &pendingFold{sid: w.session, visitor: w.visitor}
			x.pending[w.session] = p
		}
		p.add(&w.d, w.dkey)
	}
	x.mu.Unlock()
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

func (x *indexer) run() {
	defer close(x.done)
	gathering(x.wake, x.stop, x.delay, func() {
		if err := x.fold(context.Background()); err != nil {
			x.s.logError("storage: fold pending turns", err)
		}
	})
}

// gathering runs do delay after each wake, so that what comes meanwhile is
// done with it, until stop is closed.
func gathering(wake, stop <-chan struct{}, delay time.Duration, do func()) {
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-wake:
		case <-stop:
			return
		}
		t.Reset(delay)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return
		}
		do()
	}
}

// close stops the indexer and folds what is pending.
func (x *indexer) close() error {
	close(x.stop)
	<-x.done
	return x.fold(context.Background())
}

// fold writes every pending session's deltas into the records and indexes.
// On an error the sessions it did not finish stay pending.
func (x *indexer) fold(ctx context.Context) error { return x.foldWhere(ctx, nil) }

// foldWhere folds the pending sessions that which selects (nil: all). It
// waits for a fold in progress, which may hold the sessions it wants.
func (x *indexer) foldWhere(ctx context.Context, which func(*pendingFold) bool) error {
	x.foldMu.Lock()
	defer x.foldMu.Unlock()
	if !x.leftover.empty() {
		if err := x.s.deleteFolded(ctx, &x.leftover); err != nil {
			return err
		}
	}
	x.mu.Lock()
	if len(x.pending) == 0 {
		x.mu.Unlock()
		return nil
	}
	// A visitor's sessions go together (see pendingFold).
	visitors := map[string]bool{}
	for _, p := range x.pending {
		if which == nil || which(p) {
			visitors[p.visitor] = true
		}
	}
	var pending []*pendingFold
	for sid, p := range x.pending {
		if visitors[p.visitor] {
			pending = append(pending, p)
			delete(x.pending, sid)
		}
	}
	x.mu.Unlock()
	slices.SortFunc(pending, func(a, b *pendingFold) int { return strings.Compare(a.visitor, b.visitor) })
	n, err := x.s.foldAll(ctx, pending, &x.leftover)
	if err != nil {
		x.requeue(pending[n:])
	}
	// What was folded loses its deltas even when the rest failed; deletes
	// that fail are tried again by the next fold (or, after a crash, by
	// recovery).
	return errors.Join(err, x.s.deleteFolded(ctx, &x.leftover))
}

// requeue puts sessions not folded back in front of what committed since.
func (x *indexer) requeue(pending []*pendingFold) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, p := range pending {
		if q := x.pending[p.sid]; q != nil {
			p.then(q)
		}
		x.pending[p.sid] = p
	}
}

// foldAll folds pending (sorted by visitor) in transactions of about
// foldBatch sessions, fewer when Badger finds one too big (large records),
// and adds the deletes of the second step to dels. It returns how many of
// pending it folded.
func (s *Store) foldAll(ctx context.Context, pending []*pendingFold, dels *foldDeletes) (int, error) {
	done, limit := 0, foldBatch
	for done < len(pending) {
		n := foldChunk(pending[done:], limit)
		d, err := s.foldSessions(ctx, pending[done:done+n])
		if errors.Is(err, badger.ErrTxnTooBig) && limit > 1 {
			limit = max(1, min(limit, n)/2)
			continue
		}
		if err != nil {
			return done, err
		}
		dels.add(d)
		done += n
	}
	return done, nil
}

// foldChunk returns how many of pending (sorted by visitor) one fold
// transaction takes: about limit, never splitting a visitor's sessions.
func foldChunk(pending []*pendingFold, limit int) int {
	n := min(len(pending), limit)
	for n < len(pending) && pending[n].visitor == pending[n-1].visitor {
		n++
	}
	return n
}

// settle folds every turn committed so far into the records and indexes,
// and counts every session started so far (startcount.go), so a read that
// follows is exact. A read-only store has nothing pending.
func (s *Store) settle(ctx context.Context) error {
	if err := s.settleWhere(ctx, nil); err != nil {
		return err
	}
	return s.counts.count(ctx) // startcount.go
}

// settleSession folds the pending turns of one session: enough to read its
// record.
func (s *Store) settleSession(ctx context.Context, id string) error {
	return s.settleWhere(ctx, func(p *pendingFold) bool { return p.sid == id }) // with its visitor's others
}

// settleVisitor folds the pending turns of a visitor's sessions: enough to
// read its record and rollups.
func (s *Store) settleVisitor(ctx context.Context, id string) error {
	return s.settleWhere(ctx, func(p *pendingFold) bool { return p.visitor == id })
}

func (s *Store) settleWhere(ctx context.Context, which func(*pendingFold) bool) error {
	if s.idx == nil {
		return nil
	}
	if err := s.idx.foldWhere(ctx, which); err != nil {
		return fmt.Errorf("storage: fold pending turns: %w", err)
	}
	return nil
}

// foldSessions folds the deltas of the given sessions in one transaction
// (the first step of a fold) and returns the deletes of the second. It
// reads everything first and writes after: an iterator in a Badger
// transaction that has writes pending sorts them all, every time.
func (s *Store) foldSessions(ctx context.Context, pending []*pendingFold) (foldDeletes, error) {
	var dels foldDeletes
	err := s.updateAnyway(ctx, func(txn *badger.Txn) error {
		dels = foldDeletes{}
		visitors := map[string]*foldVisitor{}
		folds := make([]sessionFold, 0, len(pending))
		for _, p := range pending {
			f, err := readFold(txn, p, visitors)
			if err != nil {
				return fmt.Errorf("session %s: %w", p.sid, err)
			}
			folds = append(folds, f)
		}
		funnel := funnelTally{} // funnel_counts.go
		for i := range folds {
			f := &folds[i]
			if err := f.write(txn); err != nil {
				return fmt.Errorf("session %s: %w", pending[i].sid, err)
			}
			if !f.gone && f.foldedTo != 0 {
				funnel.move(&f.old, &f.next)
			}
			dels.keys = append(dels.keys, f.deletes...)
			if f.marked {
				dels.mark(pending[i].sid)
			}
		}
		if err := funnel.write(txn, shardFold); err != nil {
			return err
		}
		for _, fv := range visitors {
			if fv.missing || !fv.changed {
				continue
			}
			fv.fold()
			if err := putJSON(txn, key("v", fv.v.ID), &fv.v); err != nil {
				return err
			}
			if err := indexSeen(txn, fv.seen, &fv.v); err != nil { // retention.go
				return err
			}
		}
		return nil
	})
	return dels, err
}

// foldVisitor is a visitor read once per fold transaction, with what its
// sessions' pending turns add to it.
type foldVisitor struct {
	v       Visitor
	seen    time.Time // LastSeenAt as stored
	missing bool
	changed bool // a delta was folded into it

	inputs  []seqInput
	text    string
	textSeq uint64 // 0: no text
}

// take adds a session's folded record and pending turns to the visitor.
func (fv *foldVisitor) take(p *pendingFold, next *Session) {
	fv.changed = true
	fv.inputs = append(fv.inputs, p.inputs...)
	if p.d.HasText && p.textSeq >= fv.textSeq {
		fv.text, fv.textSeq = p.d.Text, p.textSeq
	}
	v := &fv.v
	v.LastInteractionAt = laterOf(v.LastInteractionAt, next.LastInteractionAt)
	v.LastFileAt = laterOf(v.LastFileAt, next.LastFileAt)
	v.LastSeenAt = laterOf(v.LastSeenAt, next.LastActivityAt)
	v.rollSentiment(next)
}

// fold applies the inputs and the last text, in the order they committed.
func (fv *foldVisitor) fold() {
	slices.SortStableFunc(fv.inputs, func(a, b seqInput) int { return cmp.Compare(a.seq, b.seq) })
	for _, si := range fv.inputs {
		fv.v.applyInput(si.in)
	}
	if fv.textSeq > 0 {
		fv.v.LastMessage = fv.text
	}
}

// sessionFold is one session's share of a fold: its record as stored and
// as folded, and the keys the second step deletes.
type sessionFold struct {
	old, next Session
	gone      bool     // the session was erased under its turns
	deletes   [][]byte // the deltas folded; for a gone session, all it left
	foldedTo  uint64   // the last delta applied; 0: none
	marked    bool     // the session has a fold mark to delete
}

// readFold reads one session's record and its visitor (into visitors,
// once) and applies the session's pending turns to them. The turns of a
// session that is gone (erased while a turn was in flight) are dropped
// with whatever they wrote.
func readFold(txn *badger.Txn, p *pendingFold, visitors map[string]*foldVisitor) (sessionFold, error) {
	var f sessionFold
	sid := p.sid
	stored, err := getSession(txn, sid, nil) // hostvars.go
	switch {
	case errors.Is(err, ErrNotFound):
		// Its deltas and mark are under deltaPrefix too.
		f.gone = true
		for _, pre := range [][]byte{deltaPrefix(sid), key("m", sid, ""), key("c", sid, ""), hostVarsPrefix(sid)} {
			f.deletes = append(f.deletes, keysIn(txn, pre)...)
		}
		return f, nil
	case err != nil:
		return f, err
	}
	f.old = *stored
	fv := visitors[f.old.VisitorID]
	if fv == nil {
		fv = &foldVisitor{}
		switch err := getJSON(txn, key("v", f.old.VisitorID), &fv.v); {
		case errors.Is(err, ErrNotFound):
			fv.missing = true
		case err != nil:
			return f, err
		}
		fv.seen = fv.v.LastSeenAt
		visitors[f.old.VisitorID] = fv
	}
	f.next = f.old
	f.next.Inputs = slices.Clip(f.old.Inputs)
	f.next.Gaps = slices.Clip(f.old.Gaps)
	f.next.Files = slices.Clip(f.old.Files)
	f.deletes = append(slices.Clip(p.stale), p.keys...)
	f.marked = p.marked
	if len(p.keys) > 0 {
		p.d.applyTo(&f.next)
		f.foldedTo = binary.BigEndian.Uint64(p.keys[len(p.keys)-1][len(p.keys[len(p.keys)-1])-8:])
		f.marked = true
		if !fv.missing {
			fv.take(p, &f.next)
		}
	}
	return f, nil
}

// write writes a session's fold: its record (the host variables are under
// hv/ already: the turns wrote them), index entries and fold mark.
func (f *sessionFold) write(txn *badger.Txn) error {
	if f.gone || f.foldedTo == 0 {
		return nil
	}
	b, err := marshalSession(&f.next)
	if err != nil {
		return err
	}
	if err := txn.Set(key("s", f.next.ID), b); err != nil {
		return err
	}
	if err := txn.Set(foldMarkKey(f.next.ID), binary.BigEndian.AppendUint64(nil, f.foldedTo)); err != nil {
		return err
	}
	return indexSession(txn, &f.old, &f.next)
}

// keysIn returns every key under prefix.
func keysIn(txn *badger.Txn, prefix []byte) [][]byte {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	var keys [][]byte
	for it.Rewind(); it.Valid(); it.Next() {
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	return keys
}

// recoverTurns folds the deltas a crash left (run by Open before anything
// else writes): every session with a d/ key.
func (s *Store) recoverTurns(ctx context.Context) (int, error) {
	var pending []*pendingFold
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := []byte("d/")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		var p *pendingFold
		var foldedTo uint64 // p's fold mark: its deltas up to here are folded
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			rest := k[len(prefix):]
			end := len(rest) - 8 - 1 // {session}/{seq}
			if end <= 0 || rest[end] != '/' {
				continue // not a delta key: leave it
			}
			if sid := string(rest[:end]); p == nil || p.sid != sid {
				p = &pendingFold{sid: sid}
				pending = append(pending, p)
				foldedTo = 0
			}
			switch seq := binary.BigEndian.Uint64(k[len(k)-8:]); {
			case seq == 0:
				p.marked = true
				err := it.Item().Value(func(b []byte) error {
					if len(b) != 8 {
						return fmt.Errorf("%s: a fold mark of %d bytes", k, len(b))
					}
					foldedTo = binary.BigEndian.Uint64(b)
					return nil
				})
				if err != nil {
					return err
				}
				continue
			case seq <= foldedTo:
				p.stale = append(p.stale, k)
				continue
			}
			err := it.Item().Value(func(b []byte) error {
				d, err := decodeDelta(b)
				if err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
				p.add(&d, k)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	found := len(pending)
	// Learn each session's visitor, so a visitor's sessions fold together.
	err = s.db.View(func(txn *badger.Txn) error {
		for _, p := range pending {
			var sess Session
			switch err := getJSON(txn, key("s", p.sid), &sess); {
			case err == nil:
				p.visitor = sess.VisitorID
			case !errors.Is(err, ErrNotFound):
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	slices.SortFunc(pending, func(a, b *pendingFold) int { return strings.Compare(a.visitor, b.visitor) })
	var dels foldDeletes
	if _, err := s.foldAll(ctx, pending, &dels); err != nil {
		return 0, err
	}
	if err := s.deleteFolded(ctx, &dels); err != nil {
		return 0, err
	}
	return found, nil
}
