package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// openQueryStore opens an in-memory store for the query tests.
func openQueryStore(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

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
	actChoice = act{kind: KindChoice}
	actFile   = act{kind: KindFile}
	actText   = act{kind: KindText, value: "hello"}
)

// actGap stands for one of gapActs in the random fixture: unanswered
// texts, some spelled alike, of every sentiment.
var actGap = act{kind: KindText, gap: true}

var gapActs = func() []act {
	texts := []string{"Pricing?", "pricing", "PRICING!!", "How do I reset my password?", "how do i reset my password",
		"Do you ship to Austria?", "ship to austria", "😡", "Kann ich bar zahlen?"}
	labels := []string{SentimentPositive, SentimentNeutral, SentimentNegative, SentimentUnknown, ""}
	var acts []act
	for i, t := range texts {
		acts = append(acts, act{kind: KindText, value: t, sentiment: labels[i%len(labels)], gap: true})
		acts = append(acts, act{kind: KindText, value: t, sentiment: labels[(i+2)%len(labels)]}) // answered
	}
	return acts
}()

func actInput(kind, variable, value string) act {
	return act{kind: KindInput, inKind: kind, variable: variable, value: value}
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

// newSession returns the record of a fixture session, not yet stored.
func newSession(v *Visitor, sp sessionSpec) *Session {
	return &Session{
		ID: NewID(sp.start), Site: v.Site, VisitorID: v.ID,
		Bot: cmpOr(sp.bot, "demo"), Version: cmpOr(sp.version, "1"), Channel: cmpOr(sp.channel, "web"),
		Device: v.Device, StartedAt: sp.start, Type: sp.typ, Lang: sp.lang,
	}
}

// sessionTurns returns the turns of a fixture session: the bot's opening,
// one turn per act (a minute apart) and, if the spec has any, the final
// goals, tags and blocks reached. Message IDs are set, so the same turns
// can be written twice with the same result.
func sessionTurns(sess *Session, sp sessionSpec) []*Turn {
	st := State{Current: "welcome", Reached: []string{"welcome"}}
	opening := st
	turns := []*Turn{{SessionID: sess.ID, State: &opening, Touch: sp.start,
		Messages: []Message{{ID: NewID(sp.start), From: FromBot, Kind: KindBot, At: sp.start, Text: "Hi!", Block: "welcome"}}}}
	at := sp.start
	gaps := 0 // the session's gaps so far
	for i, a := range sp.acts {
		at = at.Add(time.Minute)
		m := Message{ID: NewID(at), From: FromVisitor, Kind: a.kind, At: at, Block: fmt.Sprintf("b%d", i)}
		t := &Turn{SessionID: sess.ID, ClientID: fmt.Sprintf("c%d", i)}
		switch a.kind {
		case KindChoice:
			m.Option, m.Text = "yes", "Yes"
		case KindText:
			m.Text = a.value
			if a.sentiment != "" || a.gap {
				// What the widget notes of a text (widget/insight.go).
				if a.sentiment != "" {
					m.Sentiment = &Sentiment{Label: a.sentiment, Score: 0.5}
					st.Sentiment = &SessionSentiment{Label: a.sentiment, Scored: 1, Last: Sentiment{Label: a.sentiment, Score: 0.5, At: at}}
				}
				if a.gap {
					t.Gaps = Unanswered(&st, &m, gaps)
					gaps += len(t.Gaps)
				}
				snap := st
				t.State = &snap
			}
		case KindInput:
			m.Text, m.Value = a.value, a.value
			t.Inputs = []Input{{Block: m.Block, Variable: a.variable, Kind: a.inKind, Value: a.value, At: at}}
		case KindFile:
			m.Text = "scan.pdf"
			m.File = &FileRef{ID: NewID(at), Name: "scan.pdf", Size: 1234, Type: "application/pdf", At: at}
		}
		t.Messages = []Message{m, {ID: NewID(at), From: FromBot, Kind: KindBot, At: at, Text: "Thanks", Block: m.Block}}
		turns = append(turns, t)
	}
	if sp.goals != nil || sp.tags != nil || sp.reached != nil || sp.ended {
		final := st
		final.Goals, final.Tags, final.Ended = sp.goals, sp.tags, sp.ended
		final.Reached = append(slices.Clone(st.Reached), sp.reached...)
		turns = append(turns, &Turn{SessionID: sess.ID, State: &final})
	}
	return turns
}

// buildSession writes one session through the real write path:
// CreateSession, then RecordTurn for each of its turns.
func buildSession(tb testing.TB, s *Store, v *Visitor, sp sessionSpec) *Session {
	tb.Helper()
	ctx := context.Background()
	sess := newSession(v, sp)
	if err := s.CreateSession(ctx, v, sess); err != nil {
		tb.Fatal(err)
	}
	got := sess
	for _, t := range sessionTurns(sess, sp) {
		var err error
		if got, _, _, err = s.RecordTurn(ctx, t); err != nil {
			tb.Fatal(err)
		}
	}
	return got
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// fixture is a store with known data and the records as written.
type fixture struct {
	s        *Store
	visitors map[string]*Visitor
	sessions []*Session
}

func newVisitor(id string, created time.Time) *Visitor {
	return &Visitor{ID: id, Site: "demo", Channel: "web", CreatedAt: created,
		Device: Device{OS: "Windows 10", Browser: "Chrome 120"}}
}

// add writes a visitor's sessions and keeps the final records.
func (f *fixture) add(tb testing.TB, id string, specs ...sessionSpec) {
	tb.Helper()
	v := newVisitor(id, specs[0].start)
	for _, sp := range specs {
		f.sessions = append(f.sessions, buildSession(tb, f.s, v, sp))
	}
	got, err := f.s.Visitor(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	f.visitors[id] = got
}

// randomFixture writes n visitors with 1 to 4 sessions each, spread over
// the year before end, with random acts, bots, goals and tags.
func randomFixture(tb testing.TB, seed uint64, n int, end time.Time) *fixture {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	r2 := rand.New(rand.NewPCG(seed, 2)) // the fields added later: r's draws stay as they were
	f := &fixture{s: openQueryStore(tb), visitors: map[string]*Visitor{}}
	pool := []act{actChoice, actFile, actText, actInput("email", "email", "x@example.org"),
		actInput("phone", "phone", "+49 30 1234567"), actInput("text", "first_name", "Anna"), actInput("text", "city", "Berlin"),
		actGap, actGap, actGap}
	for i := range n {
		var specs []sessionSpec
		start := end.Add(-time.Duration(r.Int64N(int64(365 * 24 * time.Hour))))
		for range 1 + r.IntN(4) {
			sp := sessionSpec{start: start, bot: []string{"demo", "sales"}[r.IntN(2)], version: []string{"1", "2"}[r.IntN(2)],
				channel: []string{"web", "web", "app"}[r.IntN(3)]}
			for range r.IntN(4) {
				a := pool[r.IntN(len(pool))]
				if a.kind == KindText && a.gap {
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
		f.add(tb, NewID(specs[0].start.Add(time.Duration(i))), specs...)
	}
	return f
}

// wantUsers is the overview computed the slow way from the records.
func (f *fixture) wantUsers(from, to time.Time, flags byte) []string {
	type hit struct {
		vid string
		sfx string
	}
	best := map[string]string{}
	for _, s := range f.sessions {
		if !inPeriod(s.LastActivityAt, from, to) || s.flags()&flags != flags {
			continue
		}
		if sfx := sessionSuffix(s.LastActivityAt, s.ID); sfx > best[s.VisitorID] {
			best[s.VisitorID] = sfx
		}
	}
	var hits []hit
	for vid, sfx := range best {
		hits = append(hits, hit{vid, sfx})
	}
	slices.SortFunc(hits, func(a, b hit) int { return -cmpString(a.sfx, b.sfx) })
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.vid
	}
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// allUsers pages through the overview and returns the visitor IDs in order.
func allUsers(tb testing.TB, s *Store, q UserQuery) []string {
	tb.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		p, err := s.Users(context.Background(), q)
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range p.Items {
			ids = append(ids, r.Visitor.ID)
		}
		if p.Next == "" {
			return ids
		}
		if len(p.Items) == 0 || pages > 10000 {
			tb.Fatalf("page %d: empty page with a next cursor", pages)
		}
		q.Cursor = p.Next
	}
}
