package storage

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// The record stream: what `parley migrate` copies from one engine to the
// other. Each engine dumps its records as typed values, a visitor at a
// time with everything that belongs to it, in visitor ID order, then the
// store-wide counters; each engine loads them. A copy stopped half-way
// goes on from the last visitor the destination committed (its progress
// mark, written with that visitor), and writing a record again is
// harmless, so the result is the one of a copy never stopped.

// VisitorDump is a visitor with everything that belongs to it.
type VisitorDump struct {
	Visitor  *Visitor
	Sessions []SessionDump
	// Merges are the browsers' visitors merged into this one (identify).
	Merges []Merge
	// Changes are its profile changes (the audit list), oldest first.
	Changes []ProfileChangeDump
	// Files are its uploaded files, oldest first.
	Files []FileDump
}

// FileDump is a file's record and its bytes, read when Open is called:
// a file is streamed, never held whole.
type FileDump struct {
	File *File
	Open func(ctx context.Context) (io.ReadCloser, error) `json:"-"`
}

// ProfileChangeDump is a profile change with its ID, which orders the
// visitor's audit list.
type ProfileChangeDump struct {
	ID string
	ProfileChange
}

// SessionDump is a session (its inputs, gaps and host variables in the
// record) with its messages, oldest first, and its acks by client ID.
type SessionDump struct {
	Session  *Session
	Messages []Message
	Acks     map[string]Ack
	// Conversation and Notes are the inbox's records of it (nil for
	// none).
	Conversation *Conversation
	Notes        []Note
	// TimedOut: session.ended was written for it when it timed out
	// (idle.go), at TimedOutAt where the engine keeps it; IdleHeld: a
	// socket kept it open past the idle sweep's watermark.
	TimedOut   bool
	TimedOutAt time.Time
	IdleHeld   bool
}

// Merge is a browser's visitor merged into another by a verified
// identify. At is when, as far as the engine knows it (the Badger engine
// keeps it in the audit list; zero when that was trimmed).
type Merge struct {
	From, Into string
	At         time.Time
}

// StoreDump is what belongs to no one visitor: the usage counters and
// the webhooks' outbox, delivery log and endpoint states.
type StoreDump struct {
	Usage   []UsageCount
	Refused []RefusedCount
	// Outbox is every event waiting, Endpoint set, in each endpoint's
	// order; Deliveries the delivery log; Endpoints the endpoints'
	// states by endpoint ("site/id").
	Outbox     []QueuedEvent
	Deliveries []LoggedAttempt
	Endpoints  map[string]EndpointState
	// Agents are the console's agents (their signed-in consoles are not
	// copied: they sign in again).
	Agents []Agent
	// IdleSwept is the idle sweep's watermark (zero: it never ran).
	IdleSwept time.Time
}

// QueuedEvent is an event waiting in the outbox with its place (Seq) in
// its endpoint's order.
type QueuedEvent struct {
	Seq uint64
	OutboxEntry
}

// LoggedAttempt is an attempt of the delivery log with its endpoint and
// its place in the endpoint's log.
type LoggedAttempt struct {
	Endpoint string
	Seq      uint64
	Attempt
}

// UsageCount is the sessions started on a day (UTC) of a site's bot,
// version and channel: one usage counter, as a copy carries it and as
// another engine reads it for the usage report (UsageReportOf).
type UsageCount struct {
	Site                  string
	Day                   time.Time // midnight UTC
	Bot, Version, Channel string
	Sessions              int64
}

// RefusedCount is the starts refused for a rate limit in an hour (UTC)
// of a site's bot, version and channel: one refusal counter, as a copy
// carries it and as the usage report reads it.
type RefusedCount struct {
	Site                          string
	Hour                          time.Time // UTC
	Reason, Bot, Version, Channel string
	Starts                        int64
}

// CopyMark is the progress of a copy, kept in the destination: where a
// copy run again goes on.
type CopyMark struct {
	// Source names the store copied from; a copy from another source is
	// refused.
	Source string `json:"source"`
	// After is the last visitor committed; the next run starts after it.
	After    string    `json:"after"`
	Visitors int       `json:"visitors"`
	Started  time.Time `json:"started"`
	// Done: every record was copied and the destination's indexes built.
	Done bool `json:"done"`
}

// Dumper is the source side of a copy: an engine's records as a stream.
type Dumper interface {
	// DumpVisitors calls fn with every visitor whose ID sorts after
	// after ("" for all), in ID order.
	DumpVisitors(ctx context.Context, after string, fn func(*VisitorDump) error) error
	// DumpStore returns the store-wide records.
	DumpStore(ctx context.Context) (*StoreDump, error)
	// Verify is `parley check`.
	Verify(ctx context.Context) (*VerifyReport, error)
}

// Loader is the destination side of a copy.
type Loader interface {
	// CopyMark returns the destination's progress mark, nil when it has
	// none; empty reports whether it holds no record at all.
	CopyMark(ctx context.Context) (mark *CopyMark, empty bool, err error)
	// LoadVisitors writes visitors with everything that belongs to them
	// and moves mark on to the last, together: the visitors are in the
	// destination with their mark or loaded again by the next run. With
	// no visitors it writes the mark alone.
	LoadVisitors(ctx context.Context, ds []*VisitorDump, mark *CopyMark) error
	// LoadStore writes the store-wide records, replacing the counters'
	// values (not adding to them), and the mark.
	LoadStore(ctx context.Context, d *StoreDump, mark *CopyMark) error
	// FinishLoad builds what the engine derives from the records (the
	// admin indexes) and writes the mark, done.
	FinishLoad(ctx context.Context, mark *CopyMark) error
	// Verify is `parley check`.
	Verify(ctx context.Context) (*VerifyReport, error)
}

// ErrNotEmpty is returned by Copy for a destination that holds records
// but no mark of a copy from the same source.
var ErrNotEmpty = errors.New("storage: copy: the destination is not empty")

// CopyReport is what Copy did and found.
type CopyReport struct {
	Resumed    bool // went on from an earlier run's mark
	Visitors   int  // copied by this run
	From, To   *VerifyReport
	Mismatches []string // counts that differ between source and destination
}

// Copy copies every record of src into dst, visitor by visitor, going on
// from dst's progress mark when an earlier run stopped, then checks both
// stores (Verify) and compares their counts. source names src in the
// mark. It reports progress to log. It returns an error for a
// destination holding other records (ErrNotEmpty), a problem in either
// store or a count that differs.
func Copy(ctx context.Context, src Dumper, dst Loader, source string, log io.Writer) (*CopyReport, error) {
	r := &CopyReport{}
	mark, empty, err := dst.CopyMark(ctx)
	switch {
	case err != nil:
		return r, err
	case mark == nil && !empty:
		return r, fmt.Errorf("%w: it holds records and no mark of an earlier copy; copy into an empty store", ErrNotEmpty)
	case mark == nil:
		// The mark goes first: a destination holding anything of this
		// copy holds its mark, so a run stopped at once goes on too.
		mark = &CopyMark{Source: source, Started: time.Now().UTC()}
		if err := dst.LoadVisitors(ctx, nil, mark); err != nil {
			return r, fmt.Errorf("storage: copy: %w", err)
		}
	case mark.Source != source:
		return r, fmt.Errorf("%w: it holds a copy of %s, not of %s", ErrNotEmpty, mark.Source, source)
	default:
		r.Resumed = true
		fmt.Fprintf(log, "going on with the copy begun %s: %d visitors copied, the last %s\n", mark.Started.Format(time.RFC3339), mark.Visitors, mark.After)
	}
	if !mark.Done {
		b := &copyBatch{dst: dst, mark: mark, r: r, log: log, last: time.Now()}
		err := src.DumpVisitors(ctx, mark.After, func(d *VisitorDump) error { return b.add(ctx, d) })
		// What was read before the source failed is loaded still: the
		// next run has that much less to do.
		if err := errors.Join(err, b.flush(ctx)); err != nil {
			return r, fmt.Errorf("storage: copy: %w", err)
		}
		sd, err := src.DumpStore(ctx)
		if err != nil {
			return r, fmt.Errorf("storage: copy: %w", err)
		}
		if err := dst.LoadStore(ctx, sd, mark); err != nil {
			return r, fmt.Errorf("storage: copy: counters: %w", err)
		}
		mark.Done = true
		if err := dst.FinishLoad(ctx, mark); err != nil {
			return r, fmt.Errorf("storage: copy: indexes: %w", err)
		}
		fmt.Fprintf(log, "%d visitors copied (%d by this run); checking both stores\n", mark.Visitors, r.Visitors)
	}
	if r.From, err = src.Verify(ctx); err != nil {
		return r, fmt.Errorf("storage: copy: check the source: %w", err)
	}
	if r.To, err = dst.Verify(ctx); err != nil {
		return r, fmt.Errorf("storage: copy: check the destination: %w", err)
	}
	r.Mismatches = CompareCounts(r.From, r.To)
	var errs []error
	if n := len(r.From.Problems); n > 0 {
		errs = append(errs, fmt.Errorf("the source has %d problems (parley check), the first: %s", n, r.From.Problems[0]))
	}
	if n := len(r.To.Problems); n > 0 {
		errs = append(errs, fmt.Errorf("the destination has %d problems (parley check), the first: %s", n, r.To.Problems[0]))
	}
	if len(r.Mismatches) > 0 {
		errs = append(errs, fmt.Errorf("the stores differ: %s", strings.Join(r.Mismatches, "; ")))
	}
	if err := errors.Join(errs...); err != nil {
		return r, fmt.Errorf("storage: copy: %w", err)
	}
	return r, nil
}

// copyBatch gathers visitors into one load (one transaction of the
// destination): a transaction per visitor would cost a commit each.
type copyBatch struct {
	dst  Loader
	mark *CopyMark
	r    *CopyReport
	log  io.Writer
	last time.Time // of the last progress line

	ds   []*VisitorDump
	rows int // the batch's records, roughly
}

// Bounds of a batch: visitors, and records of any kind.
const (
	copyBatchVisitors = 200
	copyBatchRows     = 10000
)

// add adds d to the batch, loading the batch when it is full.
func (b *copyBatch) add(ctx context.Context, d *VisitorDump) error {
	b.ds = append(b.ds, d)
	b.rows += 1 + len(d.Merges) + len(d.Changes) + len(d.Files)
	for _, s := range d.Sessions {
		b.rows += 1 + len(s.Messages) + len(s.Acks) + len(s.Notes) + len(s.Session.Inputs) + len(s.Session.Gaps)
	}
	if len(b.ds) < copyBatchVisitors && b.rows < copyBatchRows {
		return nil
	}
	return b.flush(ctx)
}

// flush loads the batch with the mark moved on to its last visitor.
func (b *copyBatch) flush(ctx context.Context) error {
	ds := b.ds
	b.ds, b.rows = nil, 0 // tried once: a failure ends the run
	if len(ds) == 0 {
		return nil
	}
	next := *b.mark
	next.After, next.Visitors = ds[len(ds)-1].Visitor.ID, b.mark.Visitors+len(ds)
	if err := b.dst.LoadVisitors(ctx, ds, &next); err != nil {
		return fmt.Errorf("visitors %s to %s: %w", ds[0].Visitor.ID, next.After, err)
	}
	*b.mark = next
	b.r.Visitors += len(ds)
	if time.Since(b.last) >= 5*time.Second {
		fmt.Fprintf(b.log, "%d visitors copied, the last %s\n", b.mark.Visitors, b.mark.After)
		b.last = time.Now()
	}
	return nil
}

// CompareCounts lists the record counts that differ between two checks.
func CompareCounts(a, b *VerifyReport) []string {
	var out []string
	for _, c := range []struct {
		what string
		a, b int
	}{
		{"visitors", a.Visitors, b.Visitors}, {"sessions", a.Sessions, b.Sessions},
		{"messages", a.Messages, b.Messages}, {"acks", a.Acks, b.Acks}, {"files", a.Files, b.Files},
	} {
		if c.a != c.b {
			out = append(out, fmt.Sprintf("%s: %d in the source, %d in the destination", c.what, c.a, c.b))
		}
	}
	return out
}

// DumpVisitors calls fn with every visitor whose ID sorts after after,
// in ID order, each with its sessions, messages, acks and merges (the
// record stream, dump.go). The store must not change meanwhile: it is
// for a stopped Parley's store (parley migrate).
func (s *Store) DumpVisitors(ctx context.Context, after string, fn func(*VisitorDump) error) error {
	if err := s.settle(ctx); err != nil {
		return fmt.Errorf("storage: dump: %w", err)
	}
	files := NewFiles(s)
	// One view per visitor: a long-held snapshot would pin Badger's
	// memory for the whole copy.
	for {
		var d *VisitorDump
		err := s.db.View(func(txn *badger.Txn) error {
			id, ok := nextVisitor(txn, after)
			if !ok {
				return nil
			}
			var err error
			d, err = dumpVisitor(ctx, txn, id, files)
			return err
		})
		if err != nil {
			return fmt.Errorf("storage: dump: %w", err)
		}
		if d == nil {
			return nil
		}
		if err := fn(d); err != nil {
			return err
		}
		after = d.Visitor.ID
	}
}

// nextVisitor is the ID of the first visitor after after.
func nextVisitor(txn *badger.Txn, after string) (string, bool) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("v/")})
	defer it.Close()
	start := key("v", after)
	if after != "" {
		start = append(start, 0)
	}
	it.Seek(start)
	if !it.Valid() {
		return "", false
	}
	return string(it.Item().Key()[len("v/"):]), true
}

// dumpVisitor reads a visitor with everything that belongs to it.
func dumpVisitor(ctx context.Context, txn *badger.Txn, id string, files *Files) (*VisitorDump, error) {
	var v Visitor
	if err := getJSON(txn, key("v", id), &v); err != nil {
		return nil, err
	}
	d := &VisitorDump{Visitor: &v}
	for _, k := range keysIn(txn, key("vs", id, "")) {
		sd, err := dumpSession(ctx, txn, string(k[len(key("vs", id, "")):]))
		if err != nil {
			return nil, err
		}
		d.Sessions = append(d.Sessions, *sd)
	}
	merged := map[string]time.Time{} // from -> when, from the audit list
	prefix := key("vp", id, "")
	err := eachValue(ctx, txn, prefix, func(k, val []byte) error {
		var c ProfileChange
		if err := json.Unmarshal(val, &c); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		if c.Field == "merged" {
			merged[c.From] = c.At
		}
		d.Changes = append(d.Changes, ProfileChangeDump{ID: string(k[len(prefix):]), ProfileChange: c})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, k := range keysIn(txn, key("vma", id, "")) {
		from := string(k[len(key("vma", id, "")):])
		d.Merges = append(d.Merges, Merge{From: from, Into: id, At: merged[from]})
	}
	fs, err := visitorFiles(txn, id) // file.go
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		d.Files = append(d.Files, FileDump{File: f, Open: func(ctx context.Context) (io.ReadCloser, error) { return files.Open(ctx, f) }})
	}
	return d, nil
}

// dumpSession reads a session with its messages and acks.
func dumpSession(ctx context.Context, txn *badger.Txn, id string) (*SessionDump, error) {
	sess, err := getSession(txn, id, nil)
	if err != nil {
		return nil, fmt.Errorf("session %s: %w", id, err)
	}
	if err := withLastMessage(txn, sess); err != nil {
		return nil, err
	}
	sd := &SessionDump{Session: sess}
	err = eachValue(ctx, txn, key("m", id, ""), func(_, val []byte) error {
		var m Message
		if err := json.Unmarshal(val, &m); err != nil {
			return err
		}
		sd.Messages = append(sd.Messages, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("session %s: messages: %w", id, err)
	}
	prefix := key("c", id, "")
	err = eachValue(ctx, txn, prefix, func(k, val []byte) error {
		var a Ack
		if err := json.Unmarshal(val, &a); err != nil {
			return err
		}
		if sd.Acks == nil {
			sd.Acks = map[string]Ack{}
		}
		sd.Acks[string(k[len(prefix):])] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("session %s: acks: %w", id, err)
	}
	var c Conversation
	switch err := getJSON(txn, key("cm", id), &c); {
	case err == nil:
		sd.Conversation = &c
	case !errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("session %s: inbox record: %w", id, err)
	}
	if sd.Notes, err = notesIn(ctx, txn, id); err != nil { // inbox.go
		return nil, fmt.Errorf("session %s: notes: %w", id, err)
	}
	_, err = txn.Get(idleMarkerKey(id)) // idle.go
	sd.TimedOut = err == nil
	_, err = txn.Get(idleHeldKey(id))
	sd.IdleHeld = err == nil
	return sd, nil
}

// DumpStore returns the usage and refusal counters.
func (s *Store) DumpStore(ctx context.Context) (*StoreDump, error) {
	if err := s.FlushRefused(ctx); err != nil {
		return nil, fmt.Errorf("storage: dump: %w", err)
	}
	d := &StoreDump{}
	err := s.db.View(func(txn *badger.Txn) error {
		err := eachValue(ctx, txn, []byte("u/"), func(k, val []byte) error {
			parts := strings.SplitN(string(k), "/", 4)
			cell := strings.Split(parts[len(parts)-1], "\x00")
			day, err := time.Parse("20060102", parts[min(2, len(parts)-1)])
			if len(parts) != 4 || len(cell) != 3 || err != nil || len(val) != 8 {
				return fmt.Errorf("usage counter %q: bad key or value", k)
			}
			d.Usage = append(d.Usage, UsageCount{Site: parts[1], Day: day, Bot: cell[0], Version: cell[1], Channel: cell[2],
				Sessions: int64(binary.BigEndian.Uint64(val))})
			return nil
		})
		if err != nil {
			return err
		}
		err = eachValue(ctx, txn, []byte("ur/"), func(k, val []byte) error {
			c, ok := parseRefusalKey(k)
			hour, err := time.Parse("2006010215", c.hour)
			if !ok || err != nil || len(val) != 8 {
				return fmt.Errorf("refusal counter %q: bad key or value", k)
			}
			d.Refused = append(d.Refused, RefusedCount{Site: c.site, Hour: hour, Reason: c.reason, Bot: c.bot, Version: c.version,
				Channel: c.channel, Starts: int64(binary.BigEndian.Uint64(val))})
			return nil
		})
		if err != nil {
			return err
		}
		if err := dumpWebhooks(ctx, txn, d); err != nil {
			return err
		}
		err = eachValue(ctx, txn, []byte("ag/"), func(k, val []byte) error {
			var a Agent
			if err := json.Unmarshal(val, &a); err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
			d.Agents = append(d.Agents, a)
			return nil
		})
		if err != nil {
			return err
		}
		item, err := txn.Get(idleWatermarkKey)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			return nil
		case err != nil:
			return err
		}
		return item.Value(func(v []byte) error {
			d.IdleSwept = suffixTime(v).UTC()
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("storage: dump: %w", err)
	}
	return d, nil
}

// dumpWebhooks reads the outbox (wq/), the delivery log (wl/) and the
// endpoints' states (ws/).
func dumpWebhooks(ctx context.Context, txn *badger.Txn, d *StoreDump) error {
	err := eachValue(ctx, txn, []byte("wq/"), func(k, val []byte) error {
		var e QueuedEvent
		if len(k) < len("wq/")+9 {
			return fmt.Errorf("outbox entry %q: bad key", k)
		}
		if err := decodeEntry(val, &e.OutboxEntry); err != nil { // outbox.go
			return fmt.Errorf("%q: %w", k, err)
		}
		e.Endpoint, e.Seq = endpointOf(k), binary.BigEndian.Uint64(k[len(k)-8:])
		d.Outbox = append(d.Outbox, e)
		return nil
	})
	if err != nil {
		return err
	}
	err = eachValue(ctx, txn, []byte("wl/"), func(k, val []byte) error {
		var a LoggedAttempt
		if len(k) < len("wl/")+9 {
			return fmt.Errorf("delivery log entry %q: bad key", k)
		}
		if err := decodeAttempt(val, &a.Attempt); err != nil { // webhooklog.go
			return fmt.Errorf("%q: %w", k, err)
		}
		a.Endpoint, a.Seq = endpointOf(k), binary.BigEndian.Uint64(k[len(k)-8:])
		d.Deliveries = append(d.Deliveries, a)
		return nil
	})
	if err != nil {
		return err
	}
	return eachValue(ctx, txn, []byte("ws/"), func(k, val []byte) error {
		var st EndpointState
		if err := json.Unmarshal(val, &st); err != nil {
			return fmt.Errorf("%q: %w", k, err)
		}
		if d.Endpoints == nil {
			d.Endpoints = map[string]EndpointState{}
		}
		d.Endpoints[string(k[len("ws/"):])] = st
		return nil
	})
}
