// Package admintest holds the known data the admin side's tests read:
// six visitors of seed 000's cases in March 2025, written through the
// store's real write path. The admin package's tests and the server's
// browser tests of the console share it.
package admintest

import (
	"cmp"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/sentiment"
)

// Act is one thing a visitor does in a fixture session: Choice, File, an
// Input or a Text.
type Act struct {
	kind, variable, inKind, value string
	unanswered                    bool
}

// The acts of choosing an option and of uploading a file.
var (
	Choice = Act{kind: storage.KindChoice}
	File   = Act{kind: storage.KindFile}
)

// Writer is the store the fixtures write through: either engine.
type Writer interface {
	StartSession(ctx context.Context, v *storage.Visitor, sess *storage.Session, opening *storage.Turn) error
	RecordTurn(ctx context.Context, t *storage.Turn) (*storage.Session, storage.Ack, bool, error)
}

// Input is the act of typing value for the story variable, an input of
// kind (text, email, phone).
func Input(kind, variable, value string) Act {
	return Act{kind: storage.KindInput, inKind: kind, variable: variable, value: value}
}

// Text is the act of typing free text, which the widget scores (and
// notes unanswered when only the story's fallback answered it).
func Text(text string, unanswered bool) Act {
	return Act{kind: storage.KindText, value: text, unanswered: unanswered}
}

// Session writes a session through the real write path: CreateSession,
// the bot's opening, one turn per act a minute apart, and the final state.
func Session(tb testing.TB, st Writer, visitorID string, start time.Time, state storage.State, acts ...Act) *storage.Session {
	tb.Helper()
	return SessionOf(tb, st, storage.Session{VisitorID: visitorID, StartedAt: start}, state, acts...)
}

// SessionOf is Session for a session like tmpl: its visitor, start,
// language, locale and type (bot demo version 1 unless tmpl names others).
func SessionOf(tb testing.TB, st Writer, tmpl storage.Session, state storage.State, acts ...Act) *storage.Session {
	tb.Helper()
	ctx := context.Background()
	visitorID, start := tmpl.VisitorID, tmpl.StartedAt
	v := &storage.Visitor{ID: visitorID, Site: "demo", Channel: "web", CreatedAt: start,
		Device: storage.Device{OS: "Windows 10", Browser: "Chrome 120"}}
	sess := &storage.Session{ID: storage.NewID(start), Site: "demo", VisitorID: visitorID, Bot: cmp.Or(tmpl.Bot, "demo"),
		Version: cmp.Or(tmpl.Version, "1"), Channel: "web", Device: v.Device, StartedAt: start,
		Lang: tmpl.Lang, Locale: tmpl.Locale, Type: tmpl.Type}
	if err := st.StartSession(ctx, v, sess, nil); err != nil {
		tb.Fatal(err)
	}
	open := storage.State{Current: "welcome", Reached: []string{"welcome"}}
	if _, _, _, err := st.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, State: &open, Touch: start,
		Messages: []storage.Message{{From: storage.FromBot, Kind: storage.KindBot, At: start, Text: "Hi!", Block: "welcome"}}}); err != nil {
		tb.Fatal(err)
	}
	talk := open // what the texts add to the state; open stays with its turn
	gaps := 0    // the session's gaps so far
	at := start
	for i, a := range acts {
		at = at.Add(time.Minute)
		m := storage.Message{From: storage.FromVisitor, Kind: a.kind, At: at, Block: fmt.Sprintf("b%d", i)}
		t := &storage.Turn{SessionID: sess.ID, ClientID: fmt.Sprintf("c%d", i)}
		switch a.kind {
		case storage.KindChoice:
			m.Option, m.Text = "yes", "Yes please"
		case storage.KindInput:
			m.Text, m.Value = a.value, a.value
			t.Inputs = []storage.Input{{Block: m.Block, Variable: a.variable, Kind: a.inKind, Value: a.value, At: at}}
		case storage.KindFile:
			m.Text = "scan.pdf"
			m.File = &storage.FileRef{ID: storage.NewID(at), Name: "scan.pdf", Size: 1234, Type: "application/pdf", At: at}
		case storage.KindText:
			// As the widget notes a text (widget/insight.go).
			m.Text = a.value
			sentiment.Observe(&talk, &m, tmpl.Lang)
			if a.unanswered {
				t.Gaps = storage.Unanswered(&talk, &m, gaps)
				gaps += len(t.Gaps)
			}
			snap := talk
			t.State = &snap
		}
		t.Messages = []storage.Message{m, {From: storage.FromBot, Kind: storage.KindBot, At: at, Text: "Thanks", Block: m.Block}}
		if _, _, _, err := st.RecordTurn(ctx, t); err != nil {
			tb.Fatal(err)
		}
	}
	state.Sentiment, state.UnansweredCount = talk.Sentiment, talk.UnansweredCount
	state.Current, state.Previous = cmp.Or(state.Current, "end"), "welcome"
	state.Reached = append([]string{"welcome"}, state.Reached...)
	got, _, _, err := st.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, State: &state})
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

// The known data: six visitors of seed 000's cases, in March 2025.
const (
	V1 = "01JAAAAAAAAAAAAAAAAAAAAAA1" // engaged
	V2 = "01JAAAAAAAAAAAAAAAAAAAAAA2" // a file in one session, a choice in another
	V3 = "01JAAAAAAAAAAAAAAAAAAAAAA3" // never interacted
	V4 = "01JAAAAAAAAAAAAAAAAAAAAAA4" // choice, file and email in one session
	V5 = "01JAAAAAAAAAAAAAAAAAAAAAA5" // a name, then a phone
	V6 = "01JAAAAAAAAAAAAAAAAAAAAAA6" // a nickname that looks like a spreadsheet formula
)

// Day0 is the first day of the known data, 9:00 UTC.
var Day0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

// Day is n days after Day0.
func Day(n int) time.Time { return Day0.Add(time.Duration(n) * 24 * time.Hour) }

// Fixture fills st with the known data and returns its sessions by name
// ("v1", "v2a", "v2b", ...).
func Fixture(tb testing.TB, st Writer) map[string]*storage.Session {
	tb.Helper()
	lead := storage.State{Goals: []string{"lead"}, Tags: []string{"pricing"}, Reached: []string{"ask_email"}}
	return map[string]*storage.Session{
		"v1":  Session(tb, st, V1, Day(0), storage.State{}, Choice),
		"v2a": Session(tb, st, V2, Day(1), storage.State{}, File),
		"v2b": Session(tb, st, V2, Day(2), storage.State{}, Choice),
		"v3":  Session(tb, st, V3, Day(3), storage.State{}),
		"v4":  Session(tb, st, V4, Day(4), lead, Choice, File, Input("email", "email", "lee@example.org")),
		"v5a": Session(tb, st, V5, Day(5), storage.State{}, Input("text", "first_name", "Anna")),
		"v5b": Session(tb, st, V5, Day(6), lead, Input("phone", "phone", "+49 30 1234567")),
		"v6":  Session(tb, st, V6, Day(7), storage.State{Variables: map[string]string{"city": "Berlin"}}, Input("text", "nickname", "=cmd()")),
	}
}

// The insight data: three more visitors who typed what the story could
// not answer, in tones the sentiment filter tells apart.
const (
	V7 = "01JAAAAAAAAAAAAAAAAAAAAAA7" // angry, two unanswered questions
	V8 = "01JAAAAAAAAAAAAAAAAAAAAAA8" // asked about pricing, then pleased; a neutral question later
	V9 = "01JAAAAAAAAAAAAAAAAAAAAAA9" // writes German: sentiment unknown
)

// Insight adds the insight data to st, on days 8 to 10 after the known
// data's, and returns its sessions by name ("v7", "v8a", "v8b", "v9").
func Insight(tb testing.TB, st Writer) map[string]*storage.Session {
	tb.Helper()
	return map[string]*storage.Session{
		"v7": Session(tb, st, V7, Day(8), storage.State{},
			Text("Pricing?", true), Text("This is useless, I just want to talk to someone!!!", true)),
		"v8a": Session(tb, st, V8, Day(9), storage.State{Goals: []string{"lead"}},
			Text("pricing", true), Input("email", "email", "kim@example.org"), Text("Thanks, that was really helpful :)", false)),
		"v8b": Session(tb, st, V8, Day(9).Add(6*time.Hour), storage.State{}, Text("How do I reset my password?", true)),
		"v9":  SessionOf(tb, st, storage.Session{VisitorID: V9, StartedAt: Day(10), Lang: "de"}, storage.State{}, Text("Was kostet das?", true)),
	}
}
