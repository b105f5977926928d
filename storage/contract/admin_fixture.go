package contract

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// The admin suite's known data: visitors and sessions written through the
// engine's own write path (CreateSession, then RecordTurn per turn), with
// the records as the engine returned them, which the slow models read.

// act is one thing a visitor does in a fixture session.
type act struct {
	kind     string // choice, text, input, file
	variable string // input
	inKind   string // input: text, email, phone
	value    string // input value or text
	// text: the sentiment label it scored (none: not scored), and
	// whether only the fallback answered it.
	sentiment string
	gap       bool
}

var (
	actChoice = act{kind: storage.KindChoice}
	actFile   = act{kind: storage.KindFile}
	actText   = act{kind: storage.KindText, value: "hello"}
	// actGap stands for one of gapActs in the random fixture.
	actGap = act{kind: storage.KindText, gap: true}
)

// gapActs are unanswered texts, some spelled alike, of every sentiment,
// and the same texts answered.
var gapActs = func() []act {
	texts := []string{"Pricing?", "pricing", "PRICING!!", "How do I reset my password?", "how do i reset my password",
		"Do you ship to Austria?", "ship to austria", "😡", "Kann ich bar zahlen?"}
	labels := []string{storage.SentimentPositive, storage.SentimentNeutral, storage.SentimentNegative, storage.SentimentUnknown, ""}
	var acts []act
	for i, t := range texts {
		acts = append(acts, act{kind: storage.KindText, value: t, sentiment: labels[i%len(labels)], gap: true})
		acts = append(acts, act{kind: storage.KindText, value: t, sentiment: labels[(i+2)%len(labels)]}) // answered
	}
	return acts
}()

func actInput(kind, variable, value string) act {
	return act{kind: storage.KindInput, inKind: kind, variable: variable, value: value}
}

// sessionSpec describes a fixture session: when it starts, what the visitor
// does (a minute apart) and the story state it ends in.
type sessionSpec struct {
	start   time.Time
	acts    []act
	bot     string
	version string
	channel string
	goals   []string
	tags    []string
	reached []string
	typ     string // the story's type
	lang    string
	ended   bool
}

// sessionTurns returns the turns of a fixture session: the bot's opening,
// one turn per act (a minute apart) and, if the spec has any, the final
// goals, tags and blocks reached.
func sessionTurns(sess *storage.Session, sp sessionSpec) []*storage.Turn {
	st := storage.State{Current: "welcome", Reached: []string{"welcome"}}
	opening := st
	turns := []*storage.Turn{{SessionID: sess.ID, State: &opening, Touch: sp.start,
		Messages: []storage.Message{{ID: storage.NewID(sp.start), From: storage.FromBot, Kind: storage.KindBot, At: sp.start, Text: "Hi!", Block: "welcome"}}}}
	at := sp.start
	gaps := 0 // the session's gaps so far
	for i, a := range sp.acts {
		at = at.Add(time.Minute)
		m := storage.Message{ID: storage.NewID(at), From: storage.FromVisitor, Kind: a.kind, At: at, Block: fmt.Sprintf("b%d", i)}
		t := &storage.Turn{SessionID: sess.ID, ClientID: fmt.Sprintf("c%d", i)}
		switch a.kind {
		case storage.KindChoice:
			m.Option, m.Text = "yes", "Yes"
		case storage.KindText:
			m.Text = a.value
			if a.sentiment != "" || a.gap {
				// What the widget notes of a text (widget/insight.go).
				if a.sentiment != "" {
					m.Sentiment = &storage.Sentiment{Label: a.sentiment, Score: 0.5}
					st.Sentiment = &storage.SessionSentiment{Label: a.sentiment, Scored: 1, Last: storage.Sentiment{Label: a.sentiment, Score: 0.5, At: at}}
				}
				if a.gap {
					t.Gaps = storage.Unanswered(&st, &m, gaps)
					gaps += len(t.Gaps)
				}
				snap := st
				t.State = &snap
			}
		case storage.KindInput:
			m.Text, m.Value = a.value, a.value
			t.Inputs = []storage.Input{{Block: m.Block, Variable: a.variable, Kind: a.inKind, Value: a.value, At: at}}
		case storage.KindFile:
			m.Text = "scan.pdf"
			m.File = &storage.FileRef{ID: storage.NewID(at), Name: "scan.pdf", Size: 1234, Type: "application/pdf", At: at}
		}
		t.Messages = []storage.Message{m, {ID: storage.NewID(at), From: storage.FromBot, Kind: storage.KindBot, At: at, Text: "Thanks", Block: m.Block}}
		turns = append(turns, t)
	}
	if sp.goals != nil || sp.tags != nil || sp.reached != nil || sp.ended {
		final := st
		final.Goals, final.Tags, final.Ended = sp.goals, sp.tags, sp.ended
		final.Reached = append(slices.Clone(st.Reached), sp.reached...)
		turns = append(turns, &storage.Turn{SessionID: sess.ID, State: &final})
	}
	return turns
}

// fixture is an engine with known data and the records as written.
type fixture struct {
	s        AdminEngine
	visitors map[string]*storage.Visitor
	sessions []*storage.Session
}

func newFixture(tb testing.TB, open func(testing.TB) AdminEngine) *fixture {
	return &fixture{s: open(tb), visitors: map[string]*storage.Visitor{}}
}

// add writes a visitor's sessions and keeps the final records.
func (f *fixture) add(tb testing.TB, id string, specs ...sessionSpec) {
	tb.Helper()
	ctx := context.Background()
	v := &storage.Visitor{ID: id, Site: "demo", Channel: "web", CreatedAt: specs[0].start,
		Device: storage.Device{OS: "Windows 10", Browser: "Chrome 120"}}
	for _, sp := range specs {
		sess := &storage.Session{ID: storage.NewID(sp.start), Site: v.Site, VisitorID: v.ID,
			Bot: cmp.Or(sp.bot, "demo"), Version: cmp.Or(sp.version, "1"), Channel: cmp.Or(sp.channel, "web"),
			Device: v.Device, StartedAt: sp.start, Type: sp.typ, Lang: sp.lang}
		if err := f.s.CreateSession(ctx, v, sess); err != nil {
			tb.Fatal(err)
		}
		got := sess
		for _, t := range sessionTurns(sess, sp) {
			var err error
			if got, _, _, err = f.s.RecordTurn(ctx, t); err != nil {
				tb.Fatal(err)
			}
		}
		f.sessions = append(f.sessions, got)
	}
	got, err := f.s.Visitor(ctx, id)
	if err != nil {
		tb.Fatal(err)
	}
	f.visitors[id] = got
}

// randomFixture writes n visitors with 1 to 4 sessions each, spread over
// the year before end, with random acts, bots, goals and tags.
func randomFixture(tb testing.TB, open func(testing.TB) AdminEngine, seed uint64, n int, end time.Time) *fixture {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	r2 := rand.New(rand.NewPCG(seed, 2)) // the fields added later: r's draws stay as they were
	f := newFixture(tb, open)
	pool := []act{actChoice, actFile, actText, actInput("email", "email", "x@example.org"),
		actInput("phone", "phone", "+49 30 1234567"), actInput("text", "first_name", "Anna"), actInput("text", "city", "Berlin"),
		actGap, actGap, actGap}
	for i := range n {
		var specs []sessionSpec
		// Whole microseconds, the precision every engine keeps.
		start := end.Add(-time.Duration(r.Int64N(int64(365 * 24 * time.Hour)))).Truncate(time.Microsecond)
		for range 1 + r.IntN(4) {
			sp := sessionSpec{start: start, bot: []string{"demo", "sales"}[r.IntN(2)], version: []string{"1", "2"}[r.IntN(2)],
				channel: []string{"web", "web", "app"}[r.IntN(3)]}
			for range r.IntN(4) {
				a := pool[r.IntN(len(pool))]
				if a.kind == storage.KindText && a.gap {
					a = gapActs[r.IntN(len(gapActs))]
				}
				sp.acts = append(sp.acts, a)
			}
			if r.IntN(3) == 0 {
				sp.goals = []string{"lead"}
			}
			if r.IntN(4) == 0 {
				sp.tags = []string{"pricing"}
			}
			if r.IntN(2) == 0 {
				sp.reached = []string{"ask_name"}
			}
			sp.typ = []string{"", "lead", "support"}[r2.IntN(3)]
			sp.lang = []string{"", "en", "en", "de", "fr"}[r2.IntN(5)]
			sp.ended = r2.IntN(3) == 0
			specs = append(specs, sp)
			start = start.Add(time.Duration(1+r.IntN(30*24)) * time.Hour)
			if start.After(end) {
				break
			}
		}
		f.add(tb, storage.NewID(specs[0].start.Add(time.Duration(i))), specs...)
	}
	return f
}

// position is a list entry's place: its time, then its session ID, as
// text that sorts like the engines' indexes.
func position(t time.Time, id string) string {
	return fmt.Sprintf("%020d/%s", t.UnixNano(), id)
}

func inPeriod(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}

// flags are the session's overview flags.
func flags(s *storage.Session) byte {
	var f byte
	if s.Engaged {
		f |= storage.FlagEngaged
	}
	if s.HasFiles {
		f |= storage.FlagFiles
	}
	if s.HasInputs {
		f |= storage.FlagInputs
	}
	return f
}

// fakeLive is a Liveness for tests: a fifth of the fixture's sessions
// have a socket open; site demo keeps idle sessions 45 days (so that a
// year of fixture sessions has open ones), any other site none.
type fakeLive struct{ active map[string]bool }

func newFakeLive(f *fixture) *fakeLive {
	l := &fakeLive{active: map[string]bool{}}
	for i, s := range f.sessions {
		if i%5 == 0 {
			l.active[s.ID] = true
		}
	}
	return l
}

func (l *fakeLive) Active(id string) bool { return l.active[id] }

func (l *fakeLive) ActiveSessions() []string {
	var ids []string
	for id := range l.active {
		ids = append(ids, id)
	}
	return ids
}

func (l *fakeLive) SessionTimeout(site string) time.Duration {
	if site == "demo" {
		return l.MaxSessionTimeout()
	}
	return 0
}

func (l *fakeLive) MaxSessionTimeout() time.Duration { return 45 * 24 * time.Hour }
