package contract

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// TurnEngine is what TestTurn needs of an engine: sessions started and
// their turns recorded, read back.
type TurnEngine interface {
	CreateSession(ctx context.Context, v *storage.Visitor, sess *storage.Session) error
	StartSession(ctx context.Context, v *storage.Visitor, sess *storage.Session, opening *storage.Turn) error
	RecordTurn(ctx context.Context, t *storage.Turn) (*storage.Session, storage.Ack, bool, error)
	Session(ctx context.Context, id string) (*storage.Session, error)
	Visitor(ctx context.Context, id string) (*storage.Visitor, error)
	Messages(ctx context.Context, sessionID string, limit int) ([]storage.Message, error)
	LatestMessages(ctx context.Context, sessionID string, n int) ([]storage.Message, error)
	Ack(ctx context.Context, sessionID, clientID string) (storage.Ack, error)
	Acks(ctx context.Context, sessionID string) (map[string]storage.Ack, error)
	LatestSession(ctx context.Context, visitorID string) (*storage.Session, error)
	VisitorSessionIDs(ctx context.Context, visitorID string) ([]string, error)
}

// turnDay is the turn suite's clock: whole microseconds, UTC, as every
// engine keeps a time.
var turnDay = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// turnSession creates a visitor (when new) with one session started at t.
func turnSession(tb testing.TB, s TurnEngine, visitor string, t time.Time) *storage.Session {
	tb.Helper()
	v := &storage.Visitor{ID: visitor, Site: "demo", Channel: "web", CreatedAt: t}
	sess := &storage.Session{ID: storage.NewID(t), Site: "demo", VisitorID: visitor, Bot: "demo", Version: "1", Channel: "web", StartedAt: t}
	if err := s.CreateSession(context.Background(), v, sess); err != nil {
		tb.Fatal(err)
	}
	return sess
}

func visitorText(at time.Time, text, cid string) storage.Message {
	return storage.Message{From: storage.FromVisitor, Kind: storage.KindText, At: at, Text: text, ClientID: cid}
}

// TestTurn: sessions start with their opening in one write, turns append
// messages, inputs and gaps, roll up into the session and its visitor,
// are idempotent by client ID, and are refused whole when bad.
func TestTurn(t *testing.T, open func(testing.TB) TurnEngine) {
	t.Run("StartWithOpening", func(t *testing.T) { testStartWithOpening(t, open(t)) })
	t.Run("StartVisitor", func(t *testing.T) { testStartVisitor(t, open(t)) })
	t.Run("IdempotentByClientID", func(t *testing.T) { testIdempotent(t, open(t)) })
	t.Run("Rollups", func(t *testing.T) { testRollups(t, open(t)) })
	t.Run("Errors", func(t *testing.T) { testTurnErrors(t, open(t)) })
	t.Run("Latest", func(t *testing.T) { testLatest(t, open(t)) })
	t.Run("Owners", func(t *testing.T) { testOwners(t, open(t)) })
	t.Run("MessagesRoundTrip", func(t *testing.T) { testMessagesRoundTrip(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrentTurns(t, open(t)) })
	t.Run("NanosecondTimes", func(t *testing.T) { testNanosecondTimes(t, open(t)) })
}

// testStartWithOpening: a new session and its opening messages are one
// write: both are stored, or (an opening past the size cap) neither.
func testStartWithOpening(t *testing.T, s TurnEngine) {
	ctx := context.Background()
	t0 := turnDay
	newOne := func() (*storage.Visitor, *storage.Session) {
		v := &storage.Visitor{ID: storage.NewID(t0), Site: "demo", Channel: "web", CreatedAt: t0}
		return v, &storage.Session{ID: storage.NewID(t0), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: t0}
	}
	t.Run("Stored", func(t *testing.T) {
		v, sess := newOne()
		st := storage.State{Current: "welcome", Reached: []string{"welcome"}}
		opening := &storage.Turn{Messages: []storage.Message{
			{From: storage.FromBot, Kind: storage.KindBot, At: t0, Text: "Hi!", Block: "welcome"},
			{From: storage.FromBot, Kind: storage.KindBot, At: t0, Text: "What brings you here?", Block: "menu"},
		}, State: &st, Touch: t0}
		if err := s.StartSession(ctx, v, sess, opening); err != nil {
			t.Fatal(err)
		}
		if sess.MessageCount != 2 || sess.State.Current != "welcome" || opening.Messages[0].ID == "" {
			t.Fatalf("session after start: count %d state %+v, opening IDs %q", sess.MessageCount, sess.State, opening.Messages[0].ID)
		}
		got, err := s.Session(ctx, sess.ID)
		if err != nil || got.MessageCount != 2 || got.State.Current != "welcome" || got.LastMessageID != opening.Messages[1].ID {
			t.Fatalf("stored session: %+v, %v", got, err)
		}
		msgs, err := s.Messages(ctx, sess.ID, 0)
		if err != nil || len(msgs) != 2 || msgs[0].Text != "Hi!" || msgs[1].ID != opening.Messages[1].ID || msgs[0].SessionID != sess.ID {
			t.Fatalf("stored messages: %+v, %v", msgs, err)
		}
	})
	t.Run("NothingOnFailure", func(t *testing.T) {
		v, sess := newOne()
		st := storage.State{Variables: map[string]string{"big": strings.Repeat("x", storage.MaxStateBytes)}}
		opening := &storage.Turn{Messages: []storage.Message{{From: storage.FromBot, Kind: storage.KindBot, At: t0, Text: "Hi!"}}, State: &st}
		if err := s.StartSession(ctx, v, sess, opening); !errors.Is(err, storage.ErrTooLarge) {
			t.Fatalf("start with an opening past the cap: %v, want ErrTooLarge", err)
		}
		if _, err := s.Session(ctx, sess.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("session after a failed start: %v, want ErrNotFound", err)
		}
		if msgs, err := s.Messages(ctx, sess.ID, 0); err != nil || len(msgs) != 0 {
			t.Fatalf("messages after a failed start: %+v, %v", msgs, err)
		}
		if _, err := s.Visitor(ctx, v.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("visitor after a failed start: %v, want ErrNotFound", err)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		v, sess := newOne()
		bad := *sess
		bad.Site = ""
		if err := s.StartSession(ctx, v, &bad, nil); err == nil {
			t.Error("a session without a site was stored")
		}
		badV := *v
		badV.CreatedAt = time.Time{}
		if err := s.StartSession(ctx, &badV, sess, nil); err == nil {
			t.Error("a visitor without createdAt was stored")
		}
		if _, err := s.Session(ctx, sess.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("session after refused starts: %v, want ErrNotFound", err)
		}
	})
}

// testStartVisitor: a start creates its visitor, or moves a known one's
// LastSeenAt on (never back), and takes the opening's inputs into it.
func testStartVisitor(t *testing.T, s TurnEngine) {
	ctx := context.Background()
	vid := storage.NewID(turnDay)
	first := turnSession(t, s, vid, turnDay.Add(time.Hour))
	v, err := s.Visitor(ctx, vid)
	if err != nil || !v.LastSeenAt.Equal(turnDay.Add(time.Hour)) || !v.CreatedAt.Equal(turnDay.Add(time.Hour)) {
		t.Fatalf("new visitor: %+v, %v", v, err)
	}
	// An earlier start (a clock behind) leaves LastSeenAt as it is; the
	// visitor passed in is not written over the stored one.
	again := &storage.Visitor{ID: vid, Site: "demo", CreatedAt: turnDay, Name: "not stored"}
	sess := &storage.Session{ID: storage.NewID(turnDay), Site: "demo", VisitorID: vid, Bot: "demo", StartedAt: turnDay}
	opening := &storage.Turn{Inputs: []storage.Input{{Block: "ask", Variable: "email", Kind: "email", Value: "ann@example.org", At: turnDay}}}
	if err := s.StartSession(ctx, again, sess, opening); err != nil {
		t.Fatal(err)
	}
	if !again.LastSeenAt.Equal(turnDay.Add(time.Hour)) || again.Name != "" || again.Email != "ann@example.org" || !again.CreatedAt.Equal(turnDay.Add(time.Hour)) {
		t.Fatalf("visitor returned by the second start: %+v", again)
	}
	got, err := s.Visitor(ctx, vid)
	if err != nil || got.Email != "ann@example.org" || got.Contact != "ann@example.org" || !got.LastSeenAt.Equal(turnDay.Add(time.Hour)) || got.Name != "" {
		t.Fatalf("stored visitor: %+v, %v", got, err)
	}
	stored, err := s.Session(ctx, sess.ID)
	if err != nil || len(stored.Inputs) != 1 || !stored.HasInputs {
		t.Fatalf("session with an opening input: %+v, %v", stored, err)
	}
	ids, err := s.VisitorSessionIDs(ctx, vid)
	if err != nil || len(ids) != 2 || ids[0] != first.ID && ids[1] != first.ID {
		t.Fatalf("visitor's sessions: %v, %v", ids, err)
	}
}

// testIdempotent: a turn repeated with the same client ID stores nothing
// and answers the first ack.
func testIdempotent(t *testing.T, s TurnEngine) {
	ctx := context.Background()
	t0 := turnDay
	sess := turnSession(t, s, storage.NewID(t0), t0)
	turn := func(text string) (storage.Ack, bool) {
		_, ack, dup, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, ClientID: "c1", Messages: []storage.Message{
			visitorText(t0.Add(time.Second), text, "c1"),
			{From: storage.FromBot, Kind: storage.KindBot, At: t0.Add(time.Second), Text: "reply"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return ack, dup
	}
	first, dup := turn("hello")
	if dup || first.ID == "" || first.Text != "hello" || !first.At.Equal(t0.Add(time.Second)) {
		t.Fatalf("first turn: ack %+v dup %v", first, dup)
	}
	again, dup := turn("something else")
	if !dup || again != first {
		t.Fatalf("second turn: ack %+v dup %v, want the first ack %+v", again, dup, first)
	}
	msgs, err := s.Messages(ctx, sess.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Text != "hello" || msgs[1].Text != "reply" || msgs[0].ID != first.ID {
		t.Fatalf("messages = %+v, want the first turn only, in order", msgs)
	}
	got, err := s.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.MessageCount != 2 || !got.HasResponses || got.Engaged || !got.LastInteractionAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("session rollups = count %d responses %v engaged %v last %v", got.MessageCount, got.HasResponses, got.Engaged, got.LastInteractionAt)
	}
	if a, err := s.Ack(ctx, sess.ID, "c1"); err != nil || a != first {
		t.Fatalf("Ack(c1) = %+v, %v; want %+v", a, err, first)
	}
	if _, err := s.Ack(ctx, sess.ID, "c2"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Ack(c2) = %v, want ErrNotFound", err)
	}
	acks, err := s.Acks(ctx, sess.ID)
	if err != nil || len(acks) != 1 || acks["c1"] != first {
		t.Fatalf("Acks = %v, %v", acks, err)
	}
	// The owner's path (Prev) checks client IDs itself and stores what it
	// is given.
	next, ack, dup, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, ClientID: "c2", Prev: got,
		Messages: []storage.Message{visitorText(t0.Add(2*time.Second), "again", "c2")}})
	if err != nil || dup || ack.ID == "" || next.MessageCount != 3 || ack.ID <= first.ID {
		t.Fatalf("owner's turn: %+v %+v %v %v", next, ack, dup, err)
	}
	if acks, _ := s.Acks(ctx, sess.ID); len(acks) != 2 || acks["c2"] != ack {
		t.Fatalf("Acks after the owner's turn = %v", acks)
	}

	// An agent's reply under a client ID is acked by it as a visitor's
	// message is, and stored once.
	reply := func(text string) (storage.Ack, bool) {
		_, ack, dup, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, ClientID: "reply:ana/r1", Messages: []storage.Message{{
			From: storage.FromAgent, Kind: storage.KindAgent, At: t0.Add(3 * time.Second), Text: text,
			Agent: "ana", AgentName: "Ana", ClientID: "reply:ana/r1",
		}}})
		if err != nil {
			t.Fatal(err)
		}
		return ack, dup
	}
	firstReply, dup := reply("Hi, Ana here")
	if dup || firstReply.ID == "" || firstReply.Text != "Hi, Ana here" || firstReply.ID <= ack.ID {
		t.Fatalf("the agent's reply: ack %+v dup %v", firstReply, dup)
	}
	if again, dup := reply("Hi again"); !dup || again != firstReply {
		t.Fatalf("the agent's reply again: ack %+v dup %v, want the first %+v", again, dup, firstReply)
	}
	if msgs, err := s.Messages(ctx, sess.ID, 0); err != nil || len(msgs) != 4 || msgs[3].ID != firstReply.ID {
		t.Fatalf("messages after the reply twice = %d %v, want 4, the reply last", len(msgs), err)
	}
}

// testRollups: a turn's messages and inputs roll up into its session's
// flags and its visitor's contact fields and times.
func testRollups(t *testing.T, s TurnEngine) {
	ctx := context.Background()
	t0 := turnDay
	vid := storage.NewID(t0)
	sess := turnSession(t, s, vid, t0)
	in := func(at time.Time, variable, kind, value string) storage.Input {
		return storage.Input{Block: variable, Variable: variable, Kind: kind, Value: value, At: at}
	}
	file := &storage.FileRef{ID: "f1", Name: "cv.pdf", Size: 10, Type: "application/pdf", Block: "upload", At: t0.Add(5 * time.Minute)}
	sentiment := &storage.SessionSentiment{Label: "positive", Mean: 0.5, Min: 0.5, Scored: 1, Last: storage.Sentiment{Label: "positive", Score: 0.5, At: t0.Add(6 * time.Minute)}}
	_, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID,
		Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindChoice, At: t0.Add(time.Minute), Text: "Yes"}},
		Inputs: []storage.Input{
			in(t0.Add(time.Minute), "first_name", "text", "Ann"),
			in(t0.Add(2*time.Minute), "email", "email", "ann@example.org"),
			in(t0.Add(3*time.Minute), "phone", "phone", "+49301234567"),
			in(t0.Add(4*time.Minute), "favourite_colour", "text", "blue"),
		}})
	if err != nil {
		t.Fatal(err)
	}
	st := storage.State{Current: "thanks", Sentiment: sentiment, Handover: &storage.Handover{Status: storage.HandoverWaiting, WaitingSince: t0.Add(6 * time.Minute)}}
	_, _, _, err = s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, State: &st, Gaps: []storage.Gap{{At: t0.Add(6 * time.Minute), Text: "what?"}},
		Messages: []storage.Message{
			{From: storage.FromVisitor, Kind: storage.KindFile, At: t0.Add(5 * time.Minute), File: file},
			visitorText(t0.Add(6*time.Minute), "what?", ""),
		}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Visitor(ctx, vid)
	if err != nil {
		t.Fatal(err)
	}
	if v.Label() != "+49301234567" || v.Name != "Ann" || v.Email != "ann@example.org" || v.LastMessage != "what?" {
		t.Errorf("visitor label %q name %q email %q last %q", v.Label(), v.Name, v.Email, v.LastMessage)
	}
	if !v.LastInputAt.Equal(t0.Add(4*time.Minute)) || !v.LastFileAt.Equal(t0.Add(5*time.Minute)) ||
		!v.LastInteractionAt.Equal(t0.Add(6*time.Minute)) || !v.LastSeenAt.Equal(t0.Add(6*time.Minute)) {
		t.Errorf("visitor times: input %v file %v interaction %v seen %v", v.LastInputAt, v.LastFileAt, v.LastInteractionAt, v.LastSeenAt)
	}
	if len(v.Variables) != 4 || v.Variables["favourite_colour"] != "blue" {
		t.Errorf("visitor variables = %v", v.Variables)
	}
	if v.LastSentiment == nil || *v.LastSentiment != sentiment.Last {
		t.Errorf("visitor sentiment = %+v, want %+v", v.LastSentiment, sentiment.Last)
	}
	got, err := s.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Engaged || !got.HasInputs || !got.HasFiles || len(got.Inputs) != 4 || len(got.Files) != 1 || got.Files[0] != *file {
		t.Errorf("session flags engaged %v inputs %v files %v (%d inputs, files %v)", got.Engaged, got.HasInputs, got.HasFiles, len(got.Inputs), got.Files)
	}
	if len(got.Gaps) != 1 || got.Gaps[0].Text != "what?" || got.State.Handover == nil || got.State.Handover.Status != storage.HandoverWaiting || got.State.Current != "thanks" {
		t.Errorf("session gaps %v state %+v", got.Gaps, got.State)
	}
	if got.MessageCount != 3 || !got.LastActivityAt.Equal(t0.Add(6*time.Minute)) || !got.LastFileAt.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("session count %d activity %v file %v", got.MessageCount, got.LastActivityAt, got.LastFileAt)
	}
}

// testTurnErrors: an unknown session is ErrNotFound, a state past the cap
// ErrTooLarge with nothing stored, a state under it stored whole.
func testTurnErrors(t *testing.T, s TurnEngine) {
	ctx := context.Background()
	t.Run("UnknownSession", func(t *testing.T) {
		_, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: "01J0000000000000000000000X"})
		if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})
	t.Run("StateTooLarge", func(t *testing.T) {
		sess := turnSession(t, s, storage.NewID(turnDay), turnDay)
		st := storage.State{Variables: map[string]string{"blob": strings.Repeat("x", storage.MaxStateBytes)}}
		_, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, State: &st, Messages: []storage.Message{visitorText(turnDay, "hi", "")}})
		if !errors.Is(err, storage.ErrTooLarge) {
			t.Fatalf("got %v, want ErrTooLarge", err)
		}
		if got, _ := s.Session(ctx, sess.ID); len(got.State.Variables) != 0 || got.MessageCount != 0 {
			t.Fatal("an oversized turn was stored")
		}
		if msgs, _ := s.Messages(ctx, sess.ID, 0); len(msgs) != 0 {
			t.Fatalf("messages of an oversized turn: %+v", msgs)
		}
	})
	t.Run("StateUnderTheCap", func(t *testing.T) {
		sess := turnSession(t, s, storage.NewID(turnDay), turnDay)
		st := storage.State{Variables: map[string]string{"blob": strings.Repeat("x", storage.MaxStateBytes-1024)}}
		if _, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, State: &st}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Session(ctx, sess.ID); err != nil || len(got.State.Variables["blob"]) != storage.MaxStateBytes-1024 {
			t.Fatalf("the state was not stored whole: %v", err)
		}
	})
}

// testLatest: a visitor's latest session is the last started; its
// sessions are listed oldest first; a visitor without any has none.
func testLatest(t *testing.T, s TurnEngine) {
	ctx := context.Background()
	vid := storage.NewID(turnDay)
	first := turnSession(t, s, vid, turnDay)
	second := turnSession(t, s, vid, turnDay.Add(time.Hour))
	turnSession(t, s, storage.NewID(turnDay), turnDay.Add(2*time.Hour)) // another visitor's
	got, err := s.LatestSession(ctx, vid)
	if err != nil || got.ID != second.ID {
		t.Fatalf("latest = %v, %v; want %s", got, err, second.ID)
	}
	ids, err := s.VisitorSessionIDs(ctx, vid)
	if err != nil || len(ids) != 2 || ids[0] != first.ID || ids[1] != second.ID {
		t.Fatalf("visitor's sessions = %v, %v; want %s, %s", ids, err, first.ID, second.ID)
	}
	if _, err := s.LatestSession(ctx, "nobody"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("latest of nobody: %v, want ErrNotFound", err)
	}
	if ids, err := s.VisitorSessionIDs(ctx, "nobody"); err != nil || len(ids) != 0 {
		t.Fatalf("sessions of nobody: %v, %v", ids, err)
	}
}

// testOwners: each live session's owner records its turns on its own copy
// (Turn.Prev); two sessions of one visitor then write the visitor's
// rollups side by side, and neither overwrites the other's.
func testOwners(t *testing.T, s TurnEngine) {
	ctx := context.Background()
	t0 := turnDay
	vid := storage.NewID(t0)
	a := turnSession(t, s, vid, t0)
	b := turnSession(t, s, vid, t0.Add(time.Second))
	msg := func(at time.Time, text string) []storage.Message {
		return []storage.Message{visitorText(at, text, "")}
	}
	input := func(at time.Time, kind, variable, value string) []storage.Input {
		return []storage.Input{{Variable: variable, Kind: kind, Value: value, At: at}}
	}
	ownA, ownB := a, b
	var err error
	for i := range 3 {
		at := t0.Add(time.Duration(10+i) * time.Second)
		if ownA, _, _, err = s.RecordTurn(ctx, &storage.Turn{SessionID: a.ID, Messages: msg(at, "from a"), Prev: ownA,
			Inputs: input(at, "email", "email", "ann@example.org")}); err != nil {
			t.Fatal(err)
		}
		if ownB, _, _, err = s.RecordTurn(ctx, &storage.Turn{SessionID: b.ID, Messages: msg(at.Add(time.Millisecond), "from b"), Prev: ownB,
			Inputs: input(at, "text", "first_name", "Ann")}); err != nil {
			t.Fatal(err)
		}
	}
	if ownA.MessageCount != 3 || ownB.MessageCount != 3 || !ownA.HasInputs {
		t.Fatalf("owners' copies: %d and %d messages, inputs %v; want 3, 3, true", ownA.MessageCount, ownB.MessageCount, ownA.HasInputs)
	}
	v, err := s.Visitor(ctx, vid)
	if err != nil {
		t.Fatal(err)
	}
	if v.Email != "ann@example.org" || v.Name != "Ann" || v.LastMessage != "from b" || len(v.Variables) != 2 {
		t.Fatalf("visitor = email %q name %q last %q vars %v: one session's rollups overwrote the other's", v.Email, v.Name, v.LastMessage, v.Variables)
	}
	for _, own := range []*storage.Session{ownA, ownB} {
		got, err := s.Session(ctx, own.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.MessageCount != own.MessageCount || !got.LastActivityAt.Equal(own.LastActivityAt) || len(got.Inputs) != len(own.Inputs) || got.LastMessageID != own.LastMessageID {
			t.Fatalf("stored session %+v, owner holds %+v", got, own)
		}
	}
	// Messages and LatestMessages page the same messages.
	all, err := s.Messages(ctx, a.ID, 0)
	if err != nil || len(all) != 3 {
		t.Fatalf("messages: %d, %v", len(all), err)
	}
	if two, err := s.Messages(ctx, a.ID, 2); err != nil || len(two) != 2 || two[1].ID != all[1].ID {
		t.Fatalf("first two messages: %+v, %v", two, err)
	}
	if last, err := s.LatestMessages(ctx, a.ID, 2); err != nil || len(last) != 2 || last[0].ID != all[2].ID || last[1].ID != all[1].ID {
		t.Fatalf("latest two messages: %+v, %v", last, err)
	}
}

// testMessagesRoundTrip: a message is read back equal, every field of it.
func testMessagesRoundTrip(t *testing.T, s TurnEngine) {
	ctx := context.Background()
	sess := turnSession(t, s, storage.NewID(turnDay), turnDay)
	at := turnDay.Add(time.Minute)
	full := storage.Message{
		From: storage.FromAgent, Kind: storage.KindAgent, At: at, Text: "Here you go", Block: "b1", Image: "/img.png",
		ClientID: "cid", Agent: "ana", AgentName: "Ana",
		Options: []storage.Option{{ID: "o1", Label: "Yes"}}, Input: &storage.InputPrompt{Kind: "email", Placeholder: "you@"},
		Upload: &storage.UploadPrompt{Accept: []string{"image/png"}, MaxBytes: 1 << 20},
		File:   &storage.FileRef{ID: "f1", Name: "a.png", Size: 3, Type: "image/png", Block: "up", At: at},
		Option: "o1", Value: "v", Trace: []storage.Step{{Block: "b1", Kind: "message"}},
		Sentiment: &storage.Sentiment{Label: "neutral", Score: 0.1, At: at}, Unanswered: true,
	}
	// Every field set, so one added to Message and not kept fails here.
	rv := reflect.ValueOf(full)
	for i := range rv.NumField() {
		if name := rv.Type().Field(i).Name; rv.Field(i).IsZero() && name != "ID" && name != "SessionID" {
			t.Fatalf("the test's message leaves %s empty: set it", name)
		}
	}
	plain := storage.Message{From: storage.FromBot, Kind: storage.KindBot, At: at, Text: "hi"}
	turn := &storage.Turn{SessionID: sess.ID, ClientID: full.ClientID, Messages: []storage.Message{full, plain}}
	if _, _, _, err := s.RecordTurn(ctx, turn); err != nil {
		t.Fatal(err)
	}
	got, err := s.Messages(ctx, sess.ID, 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("messages: %+v, %v", got, err)
	}
	for i, want := range turn.Messages {
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("message %d read back\n%+v\nwant\n%+v", i, got[i], want)
		}
	}
}

// testConcurrentTurns: concurrent turns of many sessions, with and
// without owners, are all stored, each session's in its order.
func testConcurrentTurns(t *testing.T, s TurnEngine) {
	ctx := context.Background()
	const sessions, turns = 16, 10
	owners := make([]*storage.Session, sessions)
	for i := range owners {
		owners[i] = turnSession(t, s, storage.NewID(turnDay), turnDay)
	}
	var wg sync.WaitGroup
	for i := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range turns {
				at := turnDay.Add(time.Duration(n+1) * time.Second)
				cid := fmt.Sprintf("c%d", n)
				tr := &storage.Turn{SessionID: owners[i].ID, ClientID: cid, Messages: []storage.Message{
					visitorText(at, "hi "+cid, cid), {From: storage.FromBot, Kind: storage.KindBot, At: at, Text: "hello"}}}
				if i%2 == 0 {
					tr.Prev = owners[i]
				}
				next, ack, _, err := s.RecordTurn(ctx, tr)
				if err != nil || ack.ID == "" {
					t.Errorf("turn: %+v, %v", ack, err)
					return
				}
				owners[i] = next
			}
		}()
	}
	wg.Wait()
	for _, own := range owners {
		got, err := s.Session(ctx, own.ID)
		if err != nil || got.MessageCount != 2*turns || got.LastMessageID != own.LastMessageID {
			t.Fatalf("session %s: %+v, %v; want %d messages", own.ID, got, err, 2*turns)
		}
		msgs, err := s.Messages(ctx, own.ID, 0)
		if err != nil || len(msgs) != 2*turns || msgs[0].Text != "hi c0" || msgs[2*turns-2].Text != fmt.Sprintf("hi c%d", turns-1) {
			t.Fatalf("session %s messages out of order: %v", own.ID, err)
		}
	}
}

// testNanosecondTimes: records given times finer than an engine keeps
// (the clock's nanoseconds) read back equal to what the start and the
// turn returned: the engine rounds them first, or keeps them.
func testNanosecondTimes(t *testing.T, s TurnEngine) {
	ctx := context.Background()
	at := turnDay.Add(123456789 * time.Nanosecond)
	v := &storage.Visitor{ID: storage.NewID(at), Site: "demo", Channel: "web", CreatedAt: at}
	sess := &storage.Session{ID: storage.NewID(at), Site: "demo", VisitorID: v.ID, Bot: "demo", StartedAt: at}
	opening := &storage.Turn{Messages: []storage.Message{{From: storage.FromBot, Kind: storage.KindBot, At: at, Text: "Hi!"}}, Touch: at}
	if err := s.StartSession(ctx, v, sess, opening); err != nil {
		t.Fatal(err)
	}
	at2 := at.Add(time.Second + 987*time.Nanosecond)
	turn := &storage.Turn{SessionID: sess.ID, ClientID: "c1", Prev: sess,
		Messages: []storage.Message{visitorText(at2, "hello", "c1")},
		Inputs:   []storage.Input{{Block: "b", Variable: "email", Kind: "email", Value: "a@b.org", At: at2}},
		Gaps:     []storage.Gap{{At: at2, Text: "hello"}}}
	next, ack, _, err := s.RecordTurn(ctx, turn)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.StartedAt.Equal(next.StartedAt) || !got.LastActivityAt.Equal(next.LastActivityAt) || !got.LastInteractionAt.Equal(next.LastInteractionAt) ||
		!got.LastInputAt.Equal(next.LastInputAt) || !reflect.DeepEqual(got.Inputs, next.Inputs) || !reflect.DeepEqual(got.Gaps, next.Gaps) {
		t.Errorf("session read back\n%+v\nreturned\n%+v", got, next)
	}
	msgs, err := s.Messages(ctx, sess.ID, 0)
	if err != nil || len(msgs) != 2 || !reflect.DeepEqual(msgs[0], opening.Messages[0]) || !reflect.DeepEqual(msgs[1], turn.Messages[0]) {
		t.Errorf("messages read back %+v, %v; written %+v %+v", msgs, err, opening.Messages, turn.Messages)
	}
	if a, err := s.Ack(ctx, sess.ID, "c1"); err != nil || a != ack {
		t.Errorf("ack read back %+v, %v; returned %+v", a, err, ack)
	}
	gv, err := s.Visitor(ctx, v.ID)
	if err != nil || !gv.CreatedAt.Equal(v.CreatedAt) || !gv.LastSeenAt.Equal(next.LastActivityAt) || !gv.LastInputAt.Equal(next.LastInputAt) {
		t.Errorf("visitor read back %+v, %v; started %+v", gv, err, v)
	}
}
