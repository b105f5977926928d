package storage

import (
	"encoding/json"
	"time"
)

// The events a webhook endpoint may ask for. Each is written to the outbox
// (outbox.go) in the same atomic write as the change it reports.
const (
	EventSessionStarted    = "session.started"    // a session began (StartSession)
	EventMessageCreated    = "message.created"    // any message: bot, visitor or agent
	EventInputSubmitted    = "input.submitted"    // a valid answer to an input block
	EventFileUploaded      = "file.uploaded"      // a file was attached to a session
	EventSessionEnded      = "session.ended"      // the story reached an end block, or the session timed out (idle.go)
	EventVisitorErased     = "visitor.erased"     // the visitor and its data were erased
	EventHandoverRequested = "handover.requested" // the visitor asked for a person
	EventHandoverTaken     = "handover.taken"     // an agent took the conversation
)

// EventTypes lists every event type, in the order the README documents them.
var EventTypes = []string{
	EventSessionStarted, EventMessageCreated, EventInputSubmitted, EventFileUploaded,
	EventHandoverRequested, EventHandoverTaken, EventSessionEnded, EventVisitorErased,
}

// Event is one thing that happened, as a webhook reports it. Its body is
// {"type", "timestamp", "data"} (the Standard Webhooks payload shape), data
// holding site, visitor and session and then the fields of Data.
type Event struct {
	Type    string
	Site    string
	Visitor string
	Session string // "" for an event of the visitor (visitor.erased)
	At      time.Time
	// Data is the event's own part of data: a struct or map whose JSON is an
	// object, its fields added after site, visitor and session.
	Data any
}

// AddEvent adds an event of the given type to the turn, written to the
// outbox with it. Events the store derives from the turn itself (its
// messages, inputs, files, an end) need no AddEvent; this is for what only
// the caller knows, e.g.
//
//	t.AddEvent(storage.EventHandoverRequested, map[string]any{"reason": r})
//
// site, visitor and session are taken from the turn's session.
func (t *Turn) AddEvent(typ string, data any) {
	t.events = append(t.events, Event{Type: typ, Data: data})
}

// lane is what the event's order is kept within: its session, or its
// visitor for events of no session.
func (e *Event) lane() string {
	if e.Session != "" {
		return e.Session
	}
	return e.Visitor
}

// body is the event's webhook payload.
func (e *Event) body() ([]byte, error) {
	head, err := json.Marshal(struct {
		Site    string `json:"site"`
		Visitor string `json:"visitor,omitempty"`
		Session string `json:"session,omitempty"`
	}{e.Site, e.Visitor, e.Session})
	if err != nil {
		return nil, err
	}
	data := head
	if e.Data != nil {
		extra, err := json.Marshal(e.Data)
		if err != nil {
			return nil, err
		}
		if len(extra) > 2 && extra[0] == '{' {
			// Splice the object's fields in after the head's.
			data = append(append(head[:len(head)-1:len(head)-1], ','), extra[1:]...)
		}
	}
	return json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{e.Type, e.At.UTC(), data})
}

// sessionEvents derives the events of a new session: session.started and a
// message.created for each opening message (their IDs assigned).
func sessionEvents(sess *Session, opening *Turn) []Event {
	evs := []Event{{Type: EventSessionStarted, At: sess.StartedAt, Data: map[string]any{"started": startedOf(sess)}}}
	if opening != nil {
		evs = append(evs, turnEvents(opening, sess, &Session{})...)
	}
	for i := range evs {
		evs[i].Site, evs[i].Visitor, evs[i].Session = sess.Site, sess.VisitorID, sess.ID
	}
	return evs
}

// startedOf is what session.started tells of the session.
func startedOf(s *Session) map[string]any {
	return map[string]any{
		"bot": s.Bot, "version": s.Version, "channel": s.Channel, "device": s.Device,
		"page": s.Page, "lang": s.Lang, "at": s.StartedAt.UTC(),
	}
}

// turnEvents derives the events of a turn (its messages with their IDs
// assigned) on the session prev, in the order they happened: each message,
// the file it carries, the inputs, the caller's own events, the end.
func turnEvents(t *Turn, next, prev *Session) []Event {
	var evs []Event
	at := t.Touch
	for i := range t.Messages {
		m := &t.Messages[i]
		at = m.At
		evs = append(evs, Event{Type: EventMessageCreated, At: m.At, Data: map[string]any{"message": m}})
		if m.Kind == KindFile && m.From == FromVisitor && m.File != nil {
			evs = append(evs, Event{Type: EventFileUploaded, At: m.At, Data: map[string]any{"file": m.File}})
		}
	}
	for i := range t.Inputs {
		in := &t.Inputs[i]
		evs = append(evs, Event{Type: EventInputSubmitted, At: in.At, Data: map[string]any{"input": in}})
	}
	if at.IsZero() {
		at = next.LastActivityAt
	}
	for _, e := range t.events {
		e.At = at
		evs = append(evs, e)
	}
	// A take comes before the agent's message it was written with; a
	// request after the story's words that asked (handover.go).
	for _, e := range handoverEvents(t, prev, at) {
		if e.Type == EventHandoverTaken {
			evs = append([]Event{e}, evs...)
		} else {
			evs = append(evs, e)
		}
	}
	if t.State != nil && t.State.Ended && !prev.State.Ended {
		evs = append(evs, Event{Type: EventSessionEnded, At: at, Data: map[string]any{"ended": endedOf(*t.State, at, EndedByStory, at)}})
	}
	for i := range evs {
		evs[i].Site, evs[i].Visitor, evs[i].Session = next.Site, next.VisitorID, next.ID
	}
	return evs
}
