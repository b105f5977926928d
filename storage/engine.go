package storage

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// What a turn does to its session and visitor, for an engine that keeps
// them elsewhere (package postgres): the same rules as RecordTurn's, so a
// session and its visitor read the same whatever holds them.

// NextSession applies turn t to prev as RecordTurn does, writing nothing:
// it returns the session after the turn (prev is left as it is; t's
// messages get their IDs and session) and the turn's ack (Turn.Messages;
// zero when it has none). It returns ErrTooLarge when the record
// would pass MaxStateBytes, measured as RecordTurn measures it.
func NextSession(t *Turn, prev *Session) (*Session, Ack, error) {
	next := *prev
	// Appends must not write into the caller's copy.
	next.Inputs, next.Files, next.Gaps = slices.Clip(next.Inputs), slices.Clip(next.Files), slices.Clip(next.Gaps)
	d, ack := foldTurn(t, &next)
	stateLen := prev.stateLen()
	if d.State != nil {
		rec := *d.State
		rec.HostVariables = nil
		b, err := json.Marshal(&rec)
		if err != nil {
			return nil, Ack{}, err
		}
		stateLen = len(b)
	}
	if err := trackSize(&d, &next, prev, stateLen); err != nil {
		return nil, Ack{}, err
	}
	return &next, ack, nil
}

// RecordBytes is the JSON size of the session's record, the size
// MaxStateBytes caps: as tracked across turns (NextSession), else encoded
// now.
func (s *Session) RecordBytes() int { return s.sizeOf() }

// VisitorRollup is what one turn adds to its visitor's rollups: the
// latest times, the contact fields and variables its inputs set, its last
// free text and the session's latest sentiment. Its fields are there for
// a store that applies them in place (SQL); ApplyTo applies them to a
// visitor in memory.
type VisitorRollup struct {
	// SeenAt, InteractionAt, InputAt and FileAt move the visitor's times
	// on when they are later (zero: no change).
	SeenAt, InteractionAt, InputAt, FileAt time.Time
	// Name, Email, Phone and Contact are what the turn's inputs set; nil
	// leaves the visitor's as it is.
	Name, Email, Phone, Contact *string
	// Variables are set over the visitor's (nil: none).
	Variables map[string]string
	// Text is the visitor's last free text in the turn (nil: none).
	Text *string
	// Sentiment replaces the visitor's when it is later (nil: none).
	Sentiment *Sentiment

	inputs []Input
}

// TurnRollup returns what turn t, applied to its session (next, as
// NextSession or ApplyTurn returned it), adds to its visitor: the rules of
// the Badger engine's rollups (Visitor.applyInput, rollMessage,
// rollSentiment).
func TurnRollup(t *Turn, next *Session) VisitorRollup {
	// unset marks a field nothing in the turn set.
	const unset = "\x00unset"
	v := Visitor{Name: unset, Email: unset, Phone: unset, Contact: unset, LastMessage: unset}
	var scratch Session
	for i := range t.Messages {
		scratch.rollMessage(&t.Messages[i], &v)
	}
	for _, in := range t.Inputs {
		v.applyInput(in)
	}
	v.rollSentiment(next)
	r := VisitorRollup{
		SeenAt: next.LastActivityAt, InteractionAt: next.LastInteractionAt, InputAt: v.LastInputAt,
		FileAt: next.LastFileAt, Variables: v.Variables, Sentiment: v.LastSentiment, inputs: t.Inputs,
	}
	set := func(s string) *string {
		if s == unset {
			return nil
		}
		return &s
	}
	r.Name, r.Email, r.Phone, r.Contact, r.Text = set(v.Name), set(v.Email), set(v.Phone), set(v.Contact), set(v.LastMessage)
	return r
}

// ApplyTo rolls the turn into v.
func (r *VisitorRollup) ApplyTo(v *Visitor) {
	for _, in := range r.inputs {
		v.applyInput(in)
	}
	if r.Text != nil {
		v.LastMessage = *r.Text
	}
	v.LastInteractionAt = laterOf(v.LastInteractionAt, r.InteractionAt)
	v.LastFileAt = laterOf(v.LastFileAt, r.FileAt)
	v.LastSeenAt = laterOf(v.LastSeenAt, r.SeenAt)
	if r.Sentiment != nil {
		v.takeSentiment(*r.Sentiment)
	}
}

// SessionEvents derives the webhook events of a new session (StartSession):
// session.started and a message.created for each opening message (their
// IDs assigned).
func SessionEvents(sess *Session, opening *Turn) []Event { return sessionEvents(sess, opening) }

// TurnEvents derives the webhook events of turn t (its messages' IDs
// assigned) taking the session from prev to next, in the order they
// happened, the caller's own (AddEvent) among them.
func TurnEvents(t *Turn, next, prev *Session) []Event { return turnEvents(t, next, prev) }

// Entry is the event's outbox entry as every engine writes it: a new
// webhook-id, its type, lane, visitor, time and body (Endpoint and Key
// are the writer's).
func (e *Event) Entry() (OutboxEntry, error) {
	body, err := e.body()
	if err != nil {
		return OutboxEntry{}, fmt.Errorf("storage: event %s: %w", e.Type, err)
	}
	return OutboxEntry{ID: "msg_" + NewID(e.At), Type: e.Type, Lane: e.lane(), Visitor: e.Visitor, At: e.At.UTC(), Body: body}, nil
}

// RefusedHours is the range of hours a usage report over [from, to)
// counts refusals of: every hour that overlaps the period.
func RefusedHours(from, to time.Time) (first, last time.Time) {
	return from.UTC().Truncate(time.Hour), to.UTC().Add(-time.Nanosecond).Truncate(time.Hour)
}

// Keeps reports whether the query's bot, version and channel filters
// keep a counter of these.
func (q *UsageQuery) Keeps(bot, version, channel string) bool { return q.keeps(bot, version, channel) }

// UsageReportOf builds the usage report of [from, to) (UTC) from the
// counters q keeps (their sites, and the refusals' bots, versions and
// channels, already filtered by q), as the Badger engine's Usage does from its own: the
// session counters of each day, already exact for the period, and the
// refusal counters of the hours that overlap it.
func UsageReportOf(from, to time.Time, sessions []UsageCount, refused []RefusedCount) *UsageReport {
	cells := map[usageCell]int64{}
	for _, c := range sessions {
		cells[usageCell{c.Day.UTC().Format("20060102"), c.Bot, c.Version, c.Channel}] += c.Sessions
	}
	r := buildReport(from.UTC(), to.UTC(), cells)
	if !r.From.Before(r.To) {
		return r
	}
	days, reasons := map[string]int64{}, map[string]int64{}
	for _, c := range refused {
		r.Refused += c.Starts
		days[c.Hour.UTC().Format("20060102")] += c.Starts
		reasons[c.Reason] += c.Starts
	}
	finishRefused(r, days, reasons)
	return r
}
