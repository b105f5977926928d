package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Turn is one step of a conversation, written atomically by RecordTurn.
type Turn struct {
	SessionID string
	// ClientID, if set, makes the turn idempotent: a second turn with the
	// same client ID in the session stores nothing and returns the first ack.
	ClientID string
	// Messages to append, in order; IDs are assigned where empty. The ack
	// names the first visitor message or, in a turn without one, the first
	// message carrying ClientID (an agent's reply).
	Messages []Message
	// Inputs given in this turn.
	Inputs []Input
	// Gaps are the turn's unanswered texts (Unanswered, gaps.go).
	Gaps []Gap
	// State, if not nil, replaces the session's story state.
	State *State
	// Touch, when set and there are no messages, moves LastActivityAt.
	Touch time.Time

	// Prev, if set, is the session as its owner holds it: the record as
	// RecordTurn (or StartSession, or Session) last returned it, with every
	// turn since. The owner serialises the session's turns and has checked
	// ClientID against the session's acks itself, so RecordTurn reads
	// nothing. Without it, RecordTurn reads the session and the client-ID
	// ledger, under a lock of the session.
	Prev *Session

	// Node, with several nodes, is the node that owned the session when
	// the turn was made (widget's cluster): a store shared by nodes
	// commits it only while that node's lease holds, so a turn made under
	// an ownership since lost is refused (postgres.ErrLeaseLost) even
	// when the process has joined again under a new node. Badger, one
	// process, ignores it.
	Node string

	// events are the caller's own events (AddEvent, event.go), written to
	// the webhook outbox with the turn.
	events []Event
}

// RecordTurn appends a turn to its session: its messages, its ack and a
// delta of the session's state, in a group commit with the turns of other
// sessions (commit.go) that is durable (as far as Options.SyncWrites says)
// when it returns. The session's record, its visitor's rollups and the
// admin indexes take the turn behind it (indexer.go); every read of them
// folds it in first.
//
// It returns the updated session, the turn's ack (Turn.Messages; zero
// when there is none) and dup=true when the client ID was already stored, in
// which case nothing is written and ack is the original one. It returns
// ErrNotFound for an unknown session, ErrErasing for a visitor being erased
// and ErrTooLarge past MaxStateBytes.
func (s *Store) RecordTurn(ctx context.Context, t *Turn) (sess *Session, ack Ack, dup bool, err error) {
	prev := t.Prev
	if prev == nil {
		mu := &s.turnLocks[sessionStripe(t.SessionID)]
		mu.Lock()
		defer mu.Unlock()
		if t.ClientID != "" {
			switch a, err := s.Ack(ctx, t.SessionID, t.ClientID); {
			case err == nil:
				sess, err := s.Session(ctx, t.SessionID)
				if err != nil {
					return nil, Ack{}, false, err
				}
				return sess, a, true, nil
			case !errors.Is(err, ErrNotFound):
				return nil, Ack{}, false, err
			}
		}
		if prev, err = s.Session(ctx, t.SessionID); err != nil {
			return nil, Ack{}, false, fmt.Errorf("storage: record turn: %w", err)
		}
	}
	if s.commits == nil {
		return nil, Ack{}, false, fmt.Errorf("storage: record turn: %w", errReadOnly)
	}
	if err := ctx.Err(); err != nil {
		return nil, Ack{}, false, fmt.Errorf("storage: record turn: %w", err)
	}
	next := *prev
	// Appends must not write into the owner's copy.
	next.Inputs, next.Files, next.Gaps = slices.Clip(next.Inputs), slices.Clip(next.Files), slices.Clip(next.Gaps)
	d, ack := foldTurn(t, &next)
	w := turnWrites.Get().(*turnWrite)
	defer putTurnWrite(w)
	if err := encodeTurn(w, t, &d, &next, prev, ack); err != nil {
		return nil, Ack{}, false, fmt.Errorf("storage: record turn: %w", err)
	}
	// The turn's webhook events commit with it (outbox.go).
	var res *Reservation
	if s.outboxOn() {
		if res, err = s.enqueue(w, turnEvents(t, &next, prev)); err != nil {
			return nil, Ack{}, false, fmt.Errorf("storage: record turn: %w", err)
		}
	}
	if err := s.commits.write(w); err != nil {
		res.Release()
		return nil, Ack{}, false, fmt.Errorf("storage: record turn: %w", err)
	}
	res.Committed()
	return &next, ack, false, nil
}

var errReadOnly = errors.New("storage: the store is read-only")

// turnStripes serialise RecordTurn calls without an owner per session.
const turnStripes = 64

func sessionStripe(id string) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return int(h % turnStripes)
}

// encodeTurn fills w with the turn's keys: messages, ack and delta. It
// checks the session's size against MaxStateBytes, tracking the record's
// JSON size without encoding the record (Session.sizeOf).
func encodeTurn(w *turnWrite, t *Turn, d *turnDelta, next, prev *Session, ack Ack) error {
	w.session, w.visitor = t.SessionID, prev.VisitorID
	stateLen := prev.stateLen()
	var st json.RawMessage
	if d.State != nil {
		// Host variables live under hv/ (hostvars.go), written here as
		// they change, not in the delta or the record.
		rec := *d.State
		rec.HostVariables = nil
		b, err := json.Marshal(&rec)
		if err != nil {
			return err
		}
		st, stateLen = b, len(b)
	}
	if d.State != nil || prev.hostInRecord {
		if err := putHostVariables(w, prev, next); err != nil { // hostvars.go
			return err
		}
		next.hostInRecord = false
	}
	if err := trackSize(d, next, prev, stateLen); err != nil {
		return err
	}
	if err := putHandoverIndex(w, next, prev.State.Handover, next.State.Handover); err != nil { // handover.go
		return err
	}
	for i := range t.Messages {
		m := &t.Messages[i]
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		w.Set(key("m", t.SessionID, m.ID), b)
	}
	if t.ClientID != "" && ack.ID != "" {
		b, err := json.Marshal(ack)
		if err != nil {
			return err
		}
		w.Set(key("c", t.SessionID, t.ClientID), b)
	}
	if len(t.Messages) == 0 && len(d.Inputs) == 0 && !prev.hostInRecord && d.Hot == hotOf(prev) && sameState(prev, st) {
		// Only host variables changed (hv/ above): the records and
		// indexes stay as they are, so there is nothing to fold.
		return nil
	}
	b, err := json.Marshal(deltaOut{Hot: d.Hot, State: st, Inputs: d.Inputs, Files: d.Files, Gaps: d.Gaps, Text: d.Text, HasText: d.HasText, TextAt: d.TextAt})
	if err != nil {
		return err
	}
	w.delta, w.d = b, *d
	w.size += len(b) + 48
	return nil
}

// trackSize sets next's tracked record size from prev's and what the
// turn's delta adds (stateLen: the JSON size of the state after the turn,
// host variables aside), without encoding the record, and returns
// ErrTooLarge past MaxStateBytes.
func trackSize(d *turnDelta, next, prev *Session, stateLen int) error {
	grown := 0
	for _, in := range d.Inputs {
		grown += len(in.Block) + len(in.Variable) + len(in.Kind) + len(in.Value) + 96
	}
	for _, f := range d.Files {
		grown += len(f.ID) + len(f.Name) + len(f.Type) + len(f.Block) + 128
	}
	for _, g := range d.Gaps {
		grown += len(g.Text) + 64
	}
	next.size = prev.sizeOf() - prev.stateLen() + stateLen + grown
	next.stLen = stateLen
	if next.size > MaxStateBytes {
		return ErrTooLarge
	}
	return nil
}

// deltaOut is turnDelta as written, the state encoded once for both the
// size check and the delta.
type deltaOut struct {
	Hot     sessionHot      `json:"h"`
	State   json.RawMessage `json:"s,omitempty"`
	Inputs  []Input         `json:"in,omitempty"`
	Gaps    []Gap           `json:"gp,omitempty"`
	Files   []FileRef       `json:"fi,omitempty"`
	Text    string          `json:"t,omitempty"`
	HasText bool            `json:"ht,omitempty"`
	TextAt  time.Time       `json:"ta,omitzero"`
}

// Set and Delete make a turnWrite a kvWriter.
func (w *turnWrite) Set(k, v []byte) error {
	w.kv = append(w.kv, [2][]byte{k, v})
	w.size += len(k) + len(v)
	return nil
}

func (w *turnWrite) Delete(k []byte) error {
	w.dels = append(w.dels, k)
	w.size += len(k)
	return nil
}

func putTurnWrite(w *turnWrite) {
	clear(w.kv)
	clear(w.dels)
	w.kv, w.dels, w.delta, w.size, w.d = w.kv[:0], w.dels[:0], nil, 0, turnDelta{}
	turnWrites.Put(w)
}

// sizeOf is the JSON size of the session record: as read or written, or
// as tracked since (encodeTurn), or encoded now when unknown.
func (s *Session) sizeOf() int {
	switch {
	case s.size > 0:
		return s.size
	case len(s.raw) > 0:
		return len(s.raw)
	}
	b, _ := marshalSession(s)
	return len(b)
}

// sameState reports whether st (JSON, nil for unchanged) encodes the
// session's state as it is, host variables aside.
func sameState(s *Session, st json.RawMessage) bool {
	if st == nil {
		return true
	}
	cur := s.State
	cur.HostVariables = nil
	b, err := json.Marshal(&cur)
	return err == nil && bytes.Equal(b, st)
}

// stateLen is the JSON size of the session's state.
func (s *Session) stateLen() int {
	if s.stLen > 0 {
		return s.stLen
	}
	st := s.State
	st.HostVariables = nil
	b, _ := json.Marshal(&st)
	s.stLen = len(b)
	return s.stLen
}

// applyTurn writes the turn's messages and its ledger entry to w and rolls
// them and its inputs into sess and v. RecordTurn and Bulk share it, so the
// bulk loader cannot drift from the write path. It returns the ack of the
// turn's first visitor message.
func applyTurn(w kvWriter, t *Turn, sess *Session, v *Visitor) (Ack, error) {
	var ack Ack
	for i := range t.Messages {
		m := &t.Messages[i]
		if m.ID == "" {
			m.ID = NextID(m.At, sess.LastMessageID)
		}
		m.SessionID = t.SessionID
		if err := setJSON(w, key("m", t.SessionID, m.ID), m); err != nil {
			return Ack{}, err
		}
		sess.rollMessage(m, v)
		if m.From == FromVisitor && ack.ID == "" {
			ack = Ack{ID: m.ID, At: m.At, Text: m.Text}
		}
	}
	sess.Gaps = append(sess.Gaps, t.Gaps...)
	for _, in := range t.Inputs {
		sess.Inputs = append(sess.Inputs, in)
		sess.HasInputs = true
		sess.LastInputAt = laterOf(sess.LastInputAt, in.At)
		v.applyInput(in)
	}
	if t.Touch.After(sess.LastActivityAt) {
		sess.LastActivityAt = t.Touch
	}
	v.rollSentiment(sess) // its callers set the turn's state first
	v.LastSeenAt = laterOf(v.LastSeenAt, sess.LastActivityAt)
	if t.ClientID != "" && ack.ID != "" {
		if err := setJSON(w, key("c", t.SessionID, t.ClientID), ack); err != nil {
			return Ack{}, err
		}
	}
	return ack, nil
}

// lastMessageID returns the ID of the session's last message by key, ""
// for none.
func lastMessageID(txn *badger.Txn, sid string) (string, error) {
	prefix := key("m", sid, "")
	it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: prefix})
	defer it.Close()
	it.Seek(append(prefix, 0xff))
	if !it.Valid() {
		return "", nil
	}
	return string(it.Item().Key()[len(prefix):]), nil
}

// rollMessage counts m into the session's counters and flags and the visitor's rollups.
func (s *Session) rollMessage(m *Message, v *Visitor) {
	s.MessageCount++
	if m.ID > s.LastMessageID {
		s.LastMessageID = m.ID
	}
	s.LastActivityAt = laterOf(s.LastActivityAt, m.At)
	if m.From != FromVisitor {
		return
	}
	s.HasResponses = true
	s.LastInteractionAt = laterOf(s.LastInteractionAt, m.At)
	v.LastInteractionAt = laterOf(v.LastInteractionAt, m.At)
	switch m.Kind {
	case KindChoice:
		s.Engaged = true
	case KindText:
		v.LastMessage = m.Text
	case KindFile:
		if m.File != nil {
			s.HasFiles = true
			s.LastFileAt = laterOf(s.LastFileAt, m.At)
			v.LastFileAt = laterOf(v.LastFileAt, m.At)
			s.Files = append(s.Files, *m.File)
		}
	}
}
