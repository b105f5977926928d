package storage

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"time"
)

// A turn is appended, never rewritten over the session: its messages
// (m/), its ack (c/) and a delta under
//
//	d/{session}/{seq}   the session's hot fields after the turn, its new
//	                    state (when it changed), the inputs, files and
//	                    unanswered texts (gaps) it added and the visitor's
//	                    last text (JSON, short names)
//
// seq is a big-endian uint64 the process counts up, so a session's deltas
// sort in the order they were written. A delta is the durable marker that
// the session's record, its visitor's rollups and the admin indexes do not
// show the turn yet: the indexer (indexer.go) folds the deltas into them
// behind the turn, deleting each delta in the transaction that applies it,
// and Open folds what a crash left.

// sessionHot is the part of a session record every turn changes. Its owner
// is the only writer of these fields, so the latest delta's win.
type sessionHot struct {
	LastActivityAt    time.Time `json:"a"`
	LastInteractionAt time.Time `json:"i,omitzero"`
	LastInputAt       time.Time `json:"n,omitzero"`
	LastFileAt        time.Time `json:"f,omitzero"`
	MessageCount      int       `json:"c"`
	LastMessageID     string    `json:"m,omitempty"`
	Flags             byte      `json:"g,omitempty"` // Engaged, HasFiles, HasInputs as in flags(), HasResponses as 8
}

const flagResponses byte = 8

func hotOf(s *Session) sessionHot {
	h := sessionHot{
		LastActivityAt: s.LastActivityAt, LastInteractionAt: s.LastInteractionAt, LastInputAt: s.LastInputAt,
		LastFileAt: s.LastFileAt, MessageCount: s.MessageCount, LastMessageID: s.LastMessageID, Flags: s.flags(),
	}
	if s.HasResponses {
		h.Flags |= flagResponses
	}
	return h
}

func (h *sessionHot) applyTo(s *Session) {
	s.LastActivityAt, s.LastInteractionAt, s.LastInputAt, s.LastFileAt = h.LastActivityAt, h.LastInteractionAt, h.LastInputAt, h.LastFileAt
	s.MessageCount, s.LastMessageID = h.MessageCount, h.LastMessageID
	s.Engaged, s.HasFiles, s.HasInputs = h.Flags&FlagEngaged != 0, h.Flags&FlagFiles != 0, h.Flags&FlagInputs != 0
	s.HasResponses = h.Flags&flagResponses != 0
}

// turnDelta is what a turn changed of its session and visitor.
type turnDelta struct {
	Hot    sessionHot `json:"h"`
	State  *State     `json:"s,omitempty"`
	Inputs []Input    `json:"in,omitempty"`
	Files  []FileRef  `json:"fi,omitempty"`
	Gaps   []Gap      `json:"gp,omitempty"`
	// Text is the visitor's last free text in the turn (the visitor's
	// LastMessage), HasText whether there was one.
	Text    string    `json:"t,omitempty"`
	HasText bool      `json:"ht,omitempty"`
	TextAt  time.Time `json:"ta,omitzero"`
}

// deltaPrefix is d/{session}/.
func deltaPrefix(sid string) []byte { return key("d", sid, "") }

func deltaKey(sid string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(deltaPrefix(sid), seq)
}

// ApplyTurn applies a turn to sess in memory, as RecordTurn applies it to
// the session it returns: the messages get their IDs (after the session's
// last), the counters, flags, inputs and state move on. It writes nothing
// and returns the turn's ack (Turn.Messages; zero when it has none).
// sess's Inputs and Files may be appended to: pass a copy that owns them.
// A store that keeps sessions elsewhere uses it so that a session
// reads the same whatever holds it.
func ApplyTurn(t *Turn, sess *Session) Ack {
	_, ack := foldTurn(t, sess)
	return ack
}

// foldTurn applies a turn to next, its session as the owner holds it: the
// messages' IDs (after the session's last), counters and flags, inputs and
// the state. It returns the delta the indexer folds into the records and
// the turn's ack: its first visitor message or, failing that, its first
// message under the turn's client ID (an agent's reply); zero for none.
// It reads nothing.
func foldTurn(t *Turn, next *Session) (turnDelta, Ack) {
	var d turnDelta
	var ack Ack
	var v Visitor // the turn's share of the visitor's rollups, read back below
	for i := range t.Messages {
		m := &t.Messages[i]
		if m.ID == "" {
			m.ID = NextID(m.At, next.LastMessageID)
		}
		m.SessionID = t.SessionID
		next.rollMessage(m, &v)
		if ack.ID == "" && (m.From == FromVisitor || t.ClientID != "" && m.ClientID == t.ClientID) {
			ack = Ack{ID: m.ID, At: m.At, Text: m.Text}
		}
		if m.From == FromVisitor {
			if m.Kind == KindText {
				d.Text, d.HasText, d.TextAt = m.Text, true, m.At
			}
			if m.Kind == KindFile && m.File != nil {
				d.Files = append(d.Files, *m.File)
			}
		}
	}
	if t.State != nil {
		next.State = *t.State
		d.State = t.State
	}
	for _, in := range t.Inputs {
		next.Inputs = append(next.Inputs, in)
		next.HasInputs = true
		next.LastInputAt = laterOf(next.LastInputAt, in.At)
	}
	d.Inputs = t.Inputs
	next.Gaps = append(next.Gaps, t.Gaps...)
	d.Gaps = t.Gaps
	if t.Touch.After(next.LastActivityAt) {
		next.LastActivityAt = t.Touch
	}
	d.Hot = hotOf(next)
	return d, ack
}

// applyTo folds a delta (one turn's, or several merged) into the session
// record. The visitor's share is folded by foldSessions, over all the
// visitor's sessions at once, in the order their turns committed.
func (d *turnDelta) applyTo(sess *Session) {
	d.Hot.applyTo(sess)
	if d.State != nil {
		sess.State = *d.State
	}
	sess.Inputs = append(sess.Inputs, d.Inputs...)
	sess.Gaps = append(sess.Gaps, d.Gaps...)
	sess.Files = append(sess.Files, d.Files...)
}

func decodeDelta(b []byte) (turnDelta, error) {
	var d turnDelta
	err := json.Unmarshal(b, &d)
	return d, err
}

// merge folds the later delta b into a, as applying a then b would: the
// latest hot fields and state win, inputs and files add up, the later
// text wins.
func (a *turnDelta) merge(b *turnDelta) {
	a.Hot = b.Hot
	if b.State != nil {
		a.State = b.State
	}
	a.Inputs = append(slices.Clip(a.Inputs), b.Inputs...)
	a.Gaps = append(slices.Clip(a.Gaps), b.Gaps...)
	a.Files = append(slices.Clip(a.Files), b.Files...)
	if b.HasText {
		a.Text, a.HasText, a.TextAt = b.Text, true, b.TextAt
	}
}
