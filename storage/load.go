package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// copyMarkKey holds a copy's progress mark (CopyMark, dump.go) in the
// store it copies into.
var copyMarkKey = []byte("meta/copy")

// CopyMark returns the store's copy progress mark (nil for none) and
// whether it holds no record (keys under meta/ aside).
func (s *Store) CopyMark(ctx context.Context) (*CopyMark, bool, error) {
	var mark *CopyMark
	empty := true
	err := s.db.View(func(txn *badger.Txn) error {
		var m CopyMark
		switch err := getJSON(txn, copyMarkKey, &m); {
		case err == nil:
			mark = &m
		case !errors.Is(err, ErrNotFound):
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		it.Rewind()
		if it.Valid() && bytes.HasPrefix(it.Item().Key(), []byte("meta/")) {
			it.Seek([]byte("meta0")) // '0' follows '/'
		}
		empty = !it.Valid()
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("storage: copy mark: %w", err)
	}
	return mark, empty, nil
}

// LoadVisitors writes visitors of the record stream (dump.go) with
// their sessions, host variables, messages, acks, merges, audit lists,
// inbox records and idle markers, their retention entries and hand-overs,
// then their files (Files.Put, streamed), then mark. The admin indexes
// come at FinishLoad. What does not fit one Badger transaction goes in
// several, mark in the last: visitors loaded half are loaded again whole
// by the next run, each key set to the same value.
func (s *Store) LoadVisitors(ctx context.Context, ds []*VisitorDump, mark *CopyMark) error {
	w := &splitWriter{s: s}
	err := w.run(ctx, func() error {
		for _, d := range ds {
			if err := loadVisitor(w, d); err != nil {
				return fmt.Errorf("visitor %s: %w", d.Visitor.ID, err)
			}
		}
		return nil
	})
	for _, d := range ds {
		if err != nil {
			break
		}
		if err = s.loadFiles(ctx, d); err != nil {
			err = fmt.Errorf("visitor %s: %w", d.Visitor.ID, err)
		}
	}
	if err == nil {
		err = w.run(ctx, func() error { return setJSON(w, copyMarkKey, mark) })
	}
	if err != nil {
		return fmt.Errorf("storage: load: %w", err)
	}
	return nil
}

// loadVisitor writes a visitor's records, files aside.
func loadVisitor(w *splitWriter, d *VisitorDump) error {
	v := d.Visitor
	if err := v.Validate(); err != nil {
		return err
	}
	if err := setJSON(w, key("v", v.ID), v); err != nil {
		return err
	}
	if err := indexSeen(w, time.Time{}, v); err != nil { // retention.go
		return err
	}
	if v.PlatformID != "" {
		if err := w.Set(platformKey(v.Site, v.PlatformID), []byte(v.ID)); err != nil { // identify.go
			return err
		}
	}
	for _, m := range d.Merges {
		if err := w.Set(key("vm", m.From), []byte(v.ID)); err != nil {
			return err
		}
		if err := w.Set(key("vma", v.ID, m.From), nil); err != nil {
			return err
		}
	}
	for _, c := range d.Changes {
		if err := setJSON(w, changeKey(v.ID, c.ID), c.ProfileChange); err != nil { // profile.go
			return err
		}
	}
	for i := range d.Sessions {
		if err := loadSession(w, v, &d.Sessions[i]); err != nil {
			return err
		}
	}
	return nil
}

// loadFiles stores the visitor's files, each read from its source as
// Files.Put goes, and checks each arrived whole (size and SHA-256).
func (s *Store) loadFiles(ctx context.Context, d *VisitorDump) error {
	if len(d.Files) == 0 {
		return nil
	}
	files := NewFiles(s)
	for _, fd := range d.Files {
		if fd.File.VisitorID != d.Visitor.ID {
			return fmt.Errorf("file %s is visitor %s's", fd.File.ID, fd.File.VisitorID)
		}
		r, err := fd.Open(ctx)
		if err != nil {
			return fmt.Errorf("file %s: %w", fd.File.ID, err)
		}
		f := *fd.File
		err = files.Put(ctx, &f, r, Quota{}) // no quota: these were uploaded already
		r.Close()
		if err != nil {
			return fmt.Errorf("file %s: %w", fd.File.ID, err)
		}
		if f.Size != fd.File.Size || f.SHA256 != fd.File.SHA256 {
			return fmt.Errorf("file %s: %d bytes with SHA-256 %s arrived, the source has %d with %s", f.ID, f.Size, f.SHA256, fd.File.Size, fd.File.SHA256)
		}
	}
	return nil
}

// loadSession writes a session of v with its messages and acks.
func loadSession(w *splitWriter, v *Visitor, sd *SessionDump) error {
	sess := sd.Session
	if err := sess.Validate(); err != nil {
		return err
	}
	if sess.VisitorID != v.ID {
		return fmt.Errorf("session %s is visitor %s's, not %s's", sess.ID, sess.VisitorID, v.ID)
	}
	if err := putNewSession(w, sess); err != nil { // hostvars.go
		return err
	}
	if err := w.Set(key("vs", v.ID, sess.ID), nil); err != nil {
		return err
	}
	if err := putHandoverIndex(w, sess, nil, sess.State.Handover); err != nil { // handover.go
		return err
	}
	for i := range sd.Messages {
		m := &sd.Messages[i]
		if m.SessionID != sess.ID {
			return fmt.Errorf("message %s is session %s's, not %s's", m.ID, m.SessionID, sess.ID)
		}
		if err := setJSON(w, key("m", sess.ID, m.ID), m); err != nil {
			return err
		}
	}
	for cid, a := range sd.Acks {
		if err := setJSON(w, key("c", sess.ID, cid), a); err != nil {
			return err
		}
	}
	return loadSessionMarks(w, sd)
}

// loadSessionMarks writes the session's inbox records and idle markers.
func loadSessionMarks(w kvWriter, sd *SessionDump) error {
	sid := sd.Session.ID
	if c := sd.Conversation; c != nil {
		if err := setJSON(w, key("cm", sid), c); err != nil {
			return err
		}
		if c.Status != ConversationResolved { // the inbox's open ones (inbox.go)
			if err := w.Set(key("co", sid), nil); err != nil {
				return err
			}
		}
	}
	for _, n := range sd.Notes {
		if err := setJSON(w, key("cn", sid, n.ID), n); err != nil {
			return err
		}
	}
	if sd.TimedOut {
		if err := w.Set(idleMarkerKey(sid), []byte(EndedByTimeout)); err != nil { // idle.go
			return err
		}
	}
	if sd.IdleHeld {
		return w.Set(idleHeldKey(sid), nil)
	}
	return nil
}

// LoadStore sets the usage and refusal counters to the stream's values,
// writes the webhooks' outbox, delivery log and endpoint states, and
// mark.
func (s *Store) LoadStore(ctx context.Context, d *StoreDump, mark *CopyMark) error {
	w := &splitWriter{s: s}
	err := w.run(ctx, func() error {
		for _, u := range d.Usage {
			k := usageKey(u.Site, u.Day.UTC().Format("20060102"), u.Bot, u.Version, u.Channel)
			if err := w.Set(k, binary.BigEndian.AppendUint64(nil, uint64(u.Sessions))); err != nil {
				return err
			}
		}
		for _, r := range d.Refused {
			c := refusalCell{site: r.Site, hour: r.Hour.UTC().Format("2006010215"), reason: r.Reason,
				bot: r.Bot, version: r.Version, channel: r.Channel}
			if err := w.Set(c.key(), binary.BigEndian.AppendUint64(nil, uint64(r.Starts))); err != nil {
				return err
			}
		}
		if err := loadWebhooks(w, d); err != nil {
			return err
		}
		for i := range d.Agents {
			if err := setJSON(w, key("ag", d.Agents[i].Name), &d.Agents[i]); err != nil { // agent.go
				return err
			}
		}
		if !d.IdleSwept.IsZero() {
			if err := w.Set(idleWatermarkKey, []byte(timeKey(d.IdleSwept))); err != nil {
				return err
			}
		}
		return setJSON(w, copyMarkKey, mark)
	})
	if err != nil {
		return fmt.Errorf("storage: load counters: %w", err)
	}
	return nil
}

// FinishLoad builds the admin indexes and the funnel's counters of the
// loaded records afresh (BuildIndexes) and writes mark. Every visitor got
// its retention entry when it was loaded, which the seen-index mark
// records.
func (s *Store) FinishLoad(ctx context.Context, mark *CopyMark) error {
	err := s.update(ctx, func(txn *badger.Txn) error {
		if err := txn.Delete(indexesBuilt); err != nil {
			return err
		}
		return txn.Delete(funnelBuilt) // funnel_counts.go
	})
	if err != nil {
		return fmt.Errorf("storage: finish load: %w", err)
	}
	if _, err := s.BuildIndexes(ctx); err != nil {
		return fmt.Errorf("storage: finish load: %w", err)
	}
	err = s.update(ctx, func(txn *badger.Txn) error {
		if err := txn.Set(seenIndexBuilt, []byte("1")); err != nil {
			return err
		}
		return putJSON(txn, copyMarkKey, mark)
	})
	if err != nil {
		return fmt.Errorf("storage: finish load: %w", err)
	}
	return nil
}

// splitWriter writes keys in Badger transactions, committing one and
// beginning the next when it is full (ErrTxnTooBig): a load's records of
// one visitor can be more than one transaction holds.
type splitWriter struct {
	s   *Store
	txn *badger.Txn
}

// run calls fn with a transaction begun and commits what it wrote.
func (w *splitWriter) run(ctx context.Context, fn func() error) error {
	if w.s.diskFull.Load() {
		return ErrDiskFull
	}
	w.txn = w.s.db.NewTransaction(true)
	defer func() { w.txn.Discard() }()
	if err := fn(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return w.txn.Commit()
}

// Set sets k to v, in the next transaction when this one is full.
func (w *splitWriter) Set(k, v []byte) error {
	err := w.txn.Set(k, v)
	if !errors.Is(err, badger.ErrTxnTooBig) {
		return err
	}
	if err := w.txn.Commit(); err != nil {
		return err
	}
	w.txn = w.s.db.NewTransaction(true)
	return w.txn.Set(k, v)
}

// Delete is Set's delete.
func (w *splitWriter) Delete(k []byte) error {
	err := w.txn.Delete(k)
	if !errors.Is(err, badger.ErrTxnTooBig) {
		return err
	}
	if err := w.txn.Commit(); err != nil {
		return err
	}
	w.txn = w.s.db.NewTransaction(true)
	return w.txn.Delete(k)
}

// loadWebhooks writes the outbox entries and logged attempts under their
// endpoint and seq, each with its visitor's entry (wv/, which an erase
// reads), and the endpoints' states.
func loadWebhooks(w kvWriter, d *StoreDump) error {
	for i := range d.Outbox {
		e := &d.Outbox[i]
		k := seqKey(outboxPrefix(e.Endpoint), e.Seq)
		v, err := encodeEntry(&e.OutboxEntry, e.Body)
		if err != nil {
			return err
		}
		if err := w.Set(k, v); err != nil {
			return err
		}
		if err := indexVisitor(w, e.Visitor, k); err != nil {
			return err
		}
	}
	for i := range d.Deliveries {
		a := &d.Deliveries[i]
		k := seqKey(logPrefix(a.Endpoint), a.Seq)
		meta, err := json.Marshal(&a.Attempt)
		if err != nil {
			return err
		}
		if err := w.Set(k, append(append(meta, '\n'), a.Body...)); err != nil {
			return err
		}
		if err := indexVisitor(w, a.Visitor, k); err != nil {
			return err
		}
	}
	for ep, st := range d.Endpoints {
		if err := setJSON(w, stateKey(ep), st); err != nil {
			return err
		}
	}
	return nil
}
