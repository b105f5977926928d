package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Handover states.
const (
	HandoverWaiting = "waiting" // the story asked for a person; nobody took it yet
	HandoverHeld    = "held"    // an agent holds the conversation: the story is paused
)

// Handover is a session's hand-over to a person, part of its State: while
// it is set the story is paused and the bot answers nothing.
type Handover struct {
	Status       string    `json:"status"`                // HandoverWaiting or HandoverHeld
	WaitingSince time.Time `json:"waitingSince,omitzero"` // when the story asked for a person; zero when an agent took over unasked
	HeldSince    time.Time `json:"heldSince,omitzero"`    // when the agent took it
	Agent        string    `json:"agent,omitempty"`       // the holder's sign-in name
	AgentName    string    `json:"agentName,omitempty"`   // the holder's display name
	Block        string    `json:"block,omitempty"`       // the handover block that asked, if one did
	Resume       string    `json:"resume,omitempty"`      // the question that was open when the agent took over, asked again on hand back
	TimeoutAt    time.Time `json:"timeoutAt,omitzero"`    // waiting: when the story goes on without a person
}

// HandoverEntry is one conversation waiting for or held by a person, as
// the inbox lists it (ho/ keys, written in the same commit as the turn
// that changed the hand-over).
type HandoverEntry struct {
	Session string `json:"session"`
	Site    string `json:"site"`
	Visitor string `json:"visitor"`
	Handover
}

// putHandoverIndex writes the session's ho/ entry when its hand-over
// changed between prev and next: set while there is one, deleted after.
func putHandoverIndex(w kvWriter, sess *Session, prev, next *Handover) error {
	if handoverEqual(prev, next) {
		return nil
	}
	if next == nil {
		return w.Delete(key("ho", sess.ID))
	}
	b, err := json.Marshal(HandoverEntry{Session: sess.ID, Site: sess.Site, Visitor: sess.VisitorID, Handover: *next})
	if err != nil {
		return err
	}
	return w.Set(key("ho", sess.ID), b)
}

func handoverEqual(a, b *Handover) bool {
	switch {
	case a == nil || b == nil:
		return a == b
	default:
		return *a == *b
	}
}

// Handovers returns every conversation waiting for a person (oldest
// waiting first) and every one an agent holds, as one list.
func (s *Store) Handovers(ctx context.Context) ([]HandoverEntry, error) {
	var out []HandoverEntry
	err := s.db.View(func(txn *badger.Txn) error {
		return eachValue(ctx, txn, []byte("ho/"), func(_, v []byte) error {
			var e HandoverEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("storage: handovers: %w", err)
	}
	SortHandovers(out)
	return out, nil
}

// SortHandovers puts the inbox's hand-over list in its order: oldest
// waiting first (an agent's unasked take-over, which never waited, before
// them), stable over the engine's order by session.
func SortHandovers(l []HandoverEntry) {
	sort.SliceStable(l, func(i, j int) bool { return l[i].WaitingSince.Before(l[j].WaitingSince) })
}

// handoverEvents derives the webhook events of a turn that changed the
// hand-over: handover.requested when the story began to wait for a person,
// handover.taken when an agent took the conversation (asked or not).
func handoverEvents(t *Turn, prev *Session, at time.Time) []Event {
	if t.State == nil || t.State.Handover == nil {
		return nil
	}
	h, was := t.State.Handover, prev.State.Handover
	switch {
	case h.Status == HandoverWaiting && (was == nil || was.Status != HandoverWaiting):
		return []Event{{Type: EventHandoverRequested, At: at, Data: map[string]any{"handover": map[string]any{
			"block": h.Block, "waitingSince": h.WaitingSince.UTC(), "timeoutAt": h.TimeoutAt.UTC(),
		}}}}
	case h.Status == HandoverHeld && (was == nil || was.Status != HandoverHeld || was.Agent != h.Agent):
		return []Event{{Type: EventHandoverTaken, At: at, Data: map[string]any{"handover": map[string]any{
			"agent": h.Agent, "agentName": h.AgentName, "heldSince": h.HeldSince.UTC(), "asked": !h.WaitingSince.IsZero(),
		}}}}
	}
	return nil
}
