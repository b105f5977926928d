package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Senders of a message.
const (
	FromBot     = "bot"
	FromVisitor = "visitor"
	FromAgent   = "agent"
)

// Kinds of a message, as the Chatlayer seed's messageType.
const (
	KindBot    = "bot"    // a bot message or prompt
	KindText   = "text"   // free text from the visitor
	KindChoice = "choice" // a click on a choice option (an engagement)
	KindInput  = "input"  // an answer to an input block
	KindFile   = "file"   // an uploaded file
)

// Message is one message of a session. Bot messages carry the prompt of
// the block that sent them; visitor messages carry what the visitor did.
type Message struct {
	ID        string    `json:"id"`
	SessionID string    `json:"session"`
	From      string    `json:"from"`
	Kind      string    `json:"kind"`
	At        time.Time `json:"at"`
	Text      string    `json:"text,omitempty"`
	Block     string    `json:"block,omitempty"`
	Image     string    `json:"image,omitempty"`
	ClientID  string    `json:"clientId,omitempty"`

	Options []Option      `json:"options,omitempty"` // a choice prompt
	Input   *InputPrompt  `json:"input,omitempty"`   // an input prompt
	Upload  *UploadPrompt `json:"upload,omitempty"`  // an upload prompt
	File    *FileRef      `json:"file,omitempty"`    // an uploaded file

	Option string `json:"option,omitempty"` // the option chosen, on a choice
	Value  string `json:"value,omitempty"`  // the normalised value, on an input
}

// Option is one button of a choice block.
type Option struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// InputPrompt asks for a typed value.
type InputPrompt struct {
	Kind        string `json:"kind"`
	Placeholder string `json:"placeholder,omitempty"`
}

// UploadPrompt asks for a file.
type UploadPrompt struct {
	Accept   []string `json:"accept"`
	MaxBytes int64    `json:"maxBytes"`
}

// FileRef names an uploaded file from a message or a session.
type FileRef struct {
	ID    string    `json:"id"`
	Name  string    `json:"name"`
	Size  int64     `json:"size"`
	Type  string    `json:"type"`
	Block string    `json:"block,omitempty"`
	At    time.Time `json:"at"`
}

// Ack is the receipt for a stored visitor message.
type Ack struct {
	ID   string    `json:"id"`
	At   time.Time `json:"at"`
	Text string    `json:"text,omitempty"` // the message text as stored (an input normalised)
}

// Turn is one step of a conversation, written atomically by RecordTurn.
type Turn struct {
	SessionID string
	// ClientID, if set, makes the turn idempotent: a second turn with the
	// same client ID in the session stores nothing and returns the first ack.
	ClientID string
	// Messages to append, in order; IDs are assigned where empty. The first
	// visitor message is the one the ack names.
	Messages []Message
	// Inputs given in this turn.
	Inputs []Input
	// State, if not nil, replaces the session's story state.
	State *State
	// Touch, when set and there are no messages, moves LastActivityAt.
	Touch time.Time

	// Prev and Visitor are the caller's copies of the session and its
	// visitor as last returned by the store, if it keeps them; they save
	// decoding the stored records when those are unchanged. After the turn,
	// Visitor holds the visitor as stored.
	Prev    *Session
	Visitor *Visitor
}

// RecordTurn appends a turn to its session and rolls it into the session's
// counters and flags and the visitor's rollups, all in one transaction that
// is durable (as far as Options.SyncWrites says) when it returns.
//
// It returns the updated session, the ack of the turn's visitor message (zero
// when there is none) and dup=true when the client ID was already stored, in
// which case nothing is written and ack is the original one. It returns
// ErrNotFound for an unknown session and ErrTooLarge past MaxStateBytes.
func (s *Store) RecordTurn(ctx context.Context, t *Turn) (sess *Session, ack Ack, dup bool, err error) {
	err = s.update(ctx, func(txn *badger.Txn) error {
		dup = false
		if t.ClientID != "" {
			err := getJSON(txn, key("c", t.SessionID, t.ClientID), &ack)
			if err == nil {
				dup = true
				return nil
			}
			if !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		stored, err := getSession(txn, t.SessionID, t.Prev)
		if err != nil {
			return err
		}
		old := *stored
		var v Visitor
		var prevV *Visitor
		var prevVRaw []byte
		if t.Visitor != nil && t.Visitor.ID == old.VisitorID {
			prevV, prevVRaw = t.Visitor, t.Visitor.raw
		}
		if v.raw, err = getCached(txn, key("v", old.VisitorID), prevV, prevVRaw, &v); err != nil {
			return err
		}
		if v.Erasing {
			return ErrErasing
		}
		// v may share its map with the caller's copy: inputs (applyInput)
		// write into a copy, never into the shared map.
		if len(t.Inputs) > 0 {
			v.Variables = maps.Clone(v.Variables)
		}
		seen := v.LastSeenAt
		next := old
		if next.LastMessageID == "" && next.MessageCount > 0 {
			// A session stored before LastMessageID was kept: its latest
			// message is its last key.
			if next.LastMessageID, err = lastMessageID(txn, next.ID); err != nil {
				return err
			}
		}
		next.Inputs = append([]Input(nil), old.Inputs...)
		next.Files = append([]FileRef(nil), old.Files...)
		if t.State != nil {
			next.State = *t.State
		}
		if ack, err = applyTurn(txn, t, &next, &v); err != nil {
			return err
		}
		if err := putHostVariables(txn, &old, &next); err != nil {
			return err
		}
		next.hostInRecord = false
		// Records that did not change (a turn that only set host
		// variables) are not written again.
		b, err := marshalSession(&next)
		if err != nil {
			return err
		}
		if len(b) > MaxStateBytes {
			return ErrTooLarge
		}
		if !bytes.Equal(b, old.raw) || old.hostInRecord {
			if err := txn.Set(key("s", next.ID), b); err != nil {
				return err
			}
		}
		next.raw = b
		vRaw := v.raw
		if v.raw, err = json.Marshal(&v); err != nil {
			return err
		}
		if !bytes.Equal(v.raw, vRaw) {
			if err := txn.Set(key("v", v.ID), v.raw); err != nil {
				return err
			}
		}
		if err := indexSeen(txn, seen, &v); err != nil { // retention.go
			return err
		}
		sess = &next
		t.Visitor = &v
		return indexSession(txn, &old, &next)
	})
	if err != nil {
		return nil, Ack{}, false, fmt.Errorf("storage: record turn: %w", err)
	}
	if dup {
		sess, err = s.Session(ctx, t.SessionID)
		if err != nil {
			return nil, Ack{}, false, err
		}
	}
	return sess, ack, dup, nil
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
	for _, in := range t.Inputs {
		sess.Inputs = append(sess.Inputs, in)
		sess.HasInputs = true
		sess.LastInputAt = laterOf(sess.LastInputAt, in.At)
		v.applyInput(in)
	}
	if t.Touch.After(sess.LastActivityAt) {
		sess.LastActivityAt = t.Touch
	}
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

// Messages returns the session's messages, oldest first, at most limit
// (0 for all).
func (s *Store) Messages(ctx context.Context, sessionID string, limit int) ([]Message, error) {
	var msgs []Message
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := key("m", sessionID, "")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var m Message
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &m) }); err != nil {
				return err
			}
			msgs = append(msgs, m)
			if limit > 0 && len(msgs) == limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: messages: %w", err)
	}
	return msgs, nil
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Ack returns the stored ack for a client message ID in the session, or
// ErrNotFound.
func (s *Store) Ack(ctx context.Context, sessionID, clientID string) (Ack, error) {
	var a Ack
	err := s.db.View(func(txn *badger.Txn) error { return getJSON(txn, key("c", sessionID, clientID), &a) })
	if err != nil {
		return Ack{}, fmt.Errorf("storage: ack: %w", err)
	}
	return a, nil
}
