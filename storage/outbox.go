package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// The webhook outbox. An event is written, once per endpoint that wants
// it, in the same atomic write as the change it reports (the group commit
// of a turn, StartSession's transaction, the erase's last transaction), so
// a crash between the write and the delivery loses nothing:
//
//	wq/{site}/{endpoint}/{seq}   an event waiting for the endpoint: its
//	                             metadata (JSON), '\n', its body as sent
//	wl/{site}/{endpoint}/{seq}   one delivery attempt, the last
//	                             DeliveryLogKeep kept (webhooklog.go)
//	ws/{site}/{endpoint}         the endpoint's delivery state (webhooklog.go)
//
// seq is a big-endian uint64 that only grows (Unix nanoseconds, or one
// past the last), taken when the write is prepared: a session's writes are
// made one after the other by its owner, so its events sort in the order
// they happened. An endpoint is named "{site}/{id}".

// OutboxConfig says which endpoints want which events.
type OutboxConfig struct {
	// Route returns the endpoints ("site/id") that want events of type
	// typ on site; nil or empty for none.
	Route func(site, typ string) []string
	// Any, if set, reports whether any endpoint takes events at all now:
	// while none does, writes derive no events (Backlog.Routed).
	Any func() bool
	// MaxBacklog bounds the events waiting for one endpoint; an event past
	// it is dropped for that endpoint (counted in OutboxStats). 0: 10,000.
	MaxBacklog int
	// Notify is told, after the write committed, that an endpoint has new
	// events.
	Notify func(endpoint string)
}

// DefaultMaxBacklog is OutboxConfig.MaxBacklog's default.
const DefaultMaxBacklog = 10000

// outbox is the store's side of the webhook outbox: the routing and the
// backlog counts (Backlog), and the seq of its keys.
type outbox struct {
	Backlog
	seqMu sync.Mutex
	seq   uint64 // the last seq taken
}

// OutboxEntry is one event waiting for one endpoint.
type OutboxEntry struct {
	Endpoint string `json:"-"`
	// Key is the entry's seq, as text, for OutboxDone.
	Key string `json:"-"`
	// ID is the event's webhook-id: the same on every attempt, to every
	// endpoint and when an admin sends it again.
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Lane    string    `json:"lane"` // the session (or visitor) order is kept within
	Visitor string    `json:"visitor,omitempty"`
	At      time.Time `json:"at"`
	// Attempts failed so far, NextAt the earliest next attempt and
	// FirstFailedAt when the first failed.
	Attempts      int       `json:"attempts,omitempty"`
	NextAt        time.Time `json:"nextAt,omitzero"`
	FirstFailedAt time.Time `json:"firstFailedAt,omitzero"`
	// Resent marks an entry an admin sent again.
	Resent bool `json:"resent,omitempty"`
	// Body is the payload, byte for byte what is signed and sent.
	Body []byte `json:"-"`
}

// SetOutbox routes the events written from now on to the endpoints
// c.Route names. Before it is called no event is written. It can be
// called again (a config reload); the backlog counts stay.
func (s *Store) SetOutbox(c OutboxConfig) { s.ob.SetConfig(c) }

// outboxOn reports whether events are routed at all, so a store without
// webhooks derives none.
func (s *Store) outboxOn() bool { return s.ob.Routed() }

// loadOutbox counts the waiting events per endpoint and takes up the seq
// past every stored one, so keys keep their order whatever the clock did
// while the process was down (Open).
func (s *Store) loadOutbox() error {
	counts := map[string]int{}
	defer s.ob.Recount(counts)
	return s.db.View(func(txn *badger.Txn) error {
		for _, p := range []string{"wq/", "wl/"} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(p)})
			for it.Rewind(); it.Valid(); it.Next() {
				k := it.Item().Key()
				if len(k) < len(p)+9 {
					continue
				}
				if p == "wq/" {
					counts[endpointOf(k)]++
				}
				s.ob.seq = max(s.ob.seq, binary.BigEndian.Uint64(k[len(k)-8:]))
			}
			it.Close()
		}
		return nil
	})
}

func outboxPrefix(endpoint string) []byte { return key("wq", endpoint, "") }

func seqKey(prefix []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(bytes.Clone(prefix), seq)
}

// nextSeq returns a seq past every one taken.
func (o *outbox) nextSeq(now time.Time) uint64 {
	o.seqMu.Lock()
	defer o.seqMu.Unlock()
	o.seq = max(o.seq+1, uint64(now.UnixNano()))
	return o.seq
}

// enqueue writes evs to w, once per endpoint that wants each, and returns
// what it took of the backlogs (nil when nothing is routed). Past an
// endpoint's MaxBacklog an event is dropped for it and counted.
func (s *Store) enqueue(w kvWriter, evs []Event) (*Reservation, error) {
	c := s.ob.Config()
	if c == nil || c.Route == nil || len(evs) == 0 {
		return nil, nil
	}
	o := &s.ob
	r := o.Reserve()
	for i := range evs {
		e := &evs[i]
		eps := c.Route(e.Site, e.Type)
		if len(eps) == 0 {
			continue
		}
		entry, err := e.Entry() // engine.go
		if err != nil {
			r.Release()
			return nil, err
		}
		v, err := encodeEntry(&entry, entry.Body)
		if err != nil {
			r.Release()
			return nil, err
		}
		for _, ep := range eps {
			if !r.Take(ep, c.MaxBacklog, true) {
				continue
			}
			k := seqKey(outboxPrefix(ep), o.nextSeq(time.Now()))
			if err := w.Set(k, v); err != nil {
				r.Release()
				return nil, err
			}
			if err := indexVisitor(w, e.Visitor, k); err != nil {
				r.Release()
				return nil, err
			}
		}
	}
	return r, nil
}

// encodeEntry is an entry's value: its metadata, '\n', its body.
func encodeEntry(e *OutboxEntry, body []byte) ([]byte, error) {
	meta, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	return append(append(meta, '\n'), body...), nil
}

func decodeEntry(v []byte, e *OutboxEntry) error {
	meta, body, ok := bytes.Cut(v, []byte{'\n'})
	if !ok {
		return errors.New("storage: outbox entry: no body")
	}
	if err := json.Unmarshal(meta, e); err != nil {
		return fmt.Errorf("storage: outbox entry: %w", err)
	}
	e.Body = bytes.Clone(body)
	return nil
}

// Outbox returns up to limit events waiting for the endpoint, oldest
// first, starting after the entry with key after ("" for the first).
func (s *Store) Outbox(ctx context.Context, endpoint, after string, limit int) ([]OutboxEntry, error) {
	prefix := outboxPrefix(endpoint)
	var out []OutboxEntry
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: min(limit, 100)})
		defer it.Close()
		start := prefix
		if after != "" {
			start = append(bytes.Clone(prefix), after...)
			start = append(start, 0)
		}
		for it.Seek(start); it.Valid() && len(out) < limit; it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var e OutboxEntry
			if err := it.Item().Value(func(v []byte) error { return decodeEntry(v, &e) }); err != nil {
				return err
			}
			e.Endpoint, e.Key = endpoint, string(it.Item().Key()[len(prefix):])
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: outbox %s: %w", endpoint, err)
	}
	return out, nil
}

// OutboxStats is an endpoint's backlog.
type OutboxStats struct {
	Waiting int   // events waiting
	Dropped int64 // events dropped past the backlog limit since the start
}

// OutboxStats returns the endpoint's backlog.
func (s *Store) OutboxStats(endpoint string) OutboxStats { return s.ob.Stats(endpoint) }

// visitorKey indexes an outbox or log key k under the visitor it
// concerns: wv/{visitor}/{k}, so an erase finds them without reading
// every event.
func visitorKey(visitor string, k []byte) []byte {
	return append(key("wv", visitor, ""), k...)
}

// indexVisitor writes the visitor index entry of k (none for no visitor).
func indexVisitor(w kvWriter, visitor string, k []byte) error {
	if visitor == "" {
		return nil
	}
	return w.Set(visitorKey(visitor, k), nil)
}

// purgeOutbox deletes the events waiting for any endpoint and the logged
// attempts that concern the visitor, or a browser's visitor merged into it
// (identify.go), found through wv/: its data must not outlive its erase in
// the outbox either. The visitor.erased event written after tells the
// endpoints to forget it.
func (s *Store) purgeOutbox(ctx context.Context, visitorID string) (int, error) {
	merged, err := s.keySuffixes(key("vma", visitorID, ""))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range append([]string{visitorID}, merged...) {
		k, err := s.purgeVisitorEvents(ctx, id)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// purgeVisitorEvents deletes what wv/{visitorID}/ indexes, with the index.
func (s *Store) purgeVisitorEvents(ctx context.Context, visitorID string) (int, error) {
	prefix := key("wv", visitorID, "")
	n := 0
	for {
		var idx [][]byte
		err := s.db.View(func(txn *badger.Txn) error {
			idx = keysIn(txn, prefix)
			return nil
		})
		if err != nil || len(idx) == 0 {
			return n, err
		}
		idx = idx[:min(len(idx), 1000)]
		var gone []string
		deleted := 0
		err = s.updateAnyway(ctx, func(txn *badger.Txn) error {
			gone, deleted = gone[:0], 0
			for _, ik := range idx {
				if err := txn.Delete(ik); err != nil {
					return err
				}
				deleted++
				// Only what is still there: the dispatcher may have
				// delivered it meanwhile, and counted it off.
				k := ik[len(prefix):]
				if _, err := txn.Get(k); errors.Is(err, badger.ErrKeyNotFound) {
					continue
				} else if err != nil {
					return err
				}
				if err := txn.Delete(k); err != nil {
					return err
				}
				deleted++
				if bytes.HasPrefix(k, []byte("wq/")) {
					gone = append(gone, endpointOf(k))
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += deleted
		s.ob.mu.Lock()
		for _, ep := range gone {
			s.ob.counts[ep]--
		}
		s.ob.mu.Unlock()
	}
}

// endpointOf is the endpoint of a wq/ or wl/ key: {prefix}/{endpoint}/{seq}.
func endpointOf(k []byte) string {
	if len(k) < len("wq/")+9 {
		return ""
	}
	return string(k[len("wq/") : len(k)-9])
}
