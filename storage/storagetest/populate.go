package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// Fill says what Populate writes.
type Fill struct {
	Visitors int
	Seed     uint64
	// NoFiles leaves out the uploaded files.
	NoFiles bool
}

// Populate writes o.Visitors visitors through the store's own write paths
// (StartSession with an opening turn, RecordTurn with client IDs,
// Identify, CountRefused, Files.Put): sessions with inputs, gaps, host
// variables, goals, tags, sentiment and a hand-over, messages of every
// kind, acks, uploaded files, merged browsers, refused starts, and the
// webhook events of one endpoint, some delivered, some failed. Times
// are whole milliseconds, which every engine keeps exactly. The same
// options write the same records.
func Populate(tb testing.TB, st *storage.Store, o Fill) {
	tb.Helper()
	ctx := context.Background()
	n, seed := o.Visitors, o.Seed
	r := rand.New(rand.NewPCG(seed, seed))
	// The shop's CRM wants every event.
	st.SetOutbox(storage.OutboxConfig{Route: func(site, _ string) []string {
		if site == "shop" {
			return []string{"shop/crm"}
		}
		return nil
	}})
	defer st.SetOutbox(storage.OutboxConfig{})
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	live := idleLiveness{}
	populateIdle(tb, ctx, st, base, live) // the sweep's watermark, before any session
	agent := &storage.Agent{Name: "ada", DisplayName: "Ada", SecretHash: strings.Repeat("ab", 32), CreatedAt: base,
		Email: "ada@example.com", Sites: []string{"shop"}}
	if err := st.AddAgent(ctx, agent); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		at := base.Add(time.Duration(i)*37*time.Minute + time.Duration(r.IntN(60_000))*time.Millisecond)
		v := &storage.Visitor{ID: storage.NewID(at), Site: []string{"shop", "blog"}[i%2], Channel: "web",
			Device: storage.Device{OS: "Linux", Browser: "Firefox", Mobile: i%3 == 0}, CreatedAt: at, LastSeenAt: at}
		var last string
		for s := range 1 + r.IntN(3) {
			at = at.Add(time.Duration(1+r.IntN(48)) * time.Hour)
			last = populateSession(tb, ctx, st, r, v, at, i, s)
		}
		if i%4 == 1 { // an agent took part: the inbox's records
			populateInbox(tb, ctx, st, last, at, i)
		}
		if i%3 == 0 && !o.NoFiles {
			populateFile(tb, ctx, st, r, v, last, at.Add(time.Hour))
		}
		if i%5 == 4 { // a user signed in on this browser, then on another one
			other := populateOther(tb, ctx, st, v, at, i)
			for _, vid := range []string{v.ID, other} {
				_, err := st.Identify(ctx, storage.IdentifyRequest{Site: v.Site, VisitorID: vid, UserID: fmt.Sprintf("user-%d", i),
					Profile: storage.ProfileEdit{By: storage.ByIdentify, At: at.Add(time.Hour)}})
				if err != nil {
					tb.Fatal(err)
				}
			}
		}
		if i%7 == 0 {
			st.CountRefused(storage.Refusal{Site: v.Site, Bot: "demo", Version: "1", Channel: "web", Reason: "ip", At: at})
		}
	}
	if err := st.FlushRefused(ctx); err != nil {
		tb.Fatal(err)
	}
	populateDeliveries(tb, ctx, st, base)
	populateIdle(tb, ctx, st, base.Add(time.Duration(n)*37*time.Minute+30*24*time.Hour), live)
}

// idleLiveness has no socket open and a half-hour session timeout.
type idleLiveness struct{}

func (idleLiveness) Active(string) bool                  { return false }
func (idleLiveness) ActiveSessions() []string            { return nil }
func (idleLiveness) SessionTimeout(string) time.Duration { return 30 * time.Minute }
func (idleLiveness) MaxSessionTimeout() time.Duration    { return 30 * time.Minute }

// populateIdle runs the idle sweep at now to its end: session.ended for
// the shop's sessions that timed out, with their markers.
func populateIdle(tb testing.TB, ctx context.Context, st *storage.Store, now time.Time, live storage.Liveness) {
	tb.Helper()
	for {
		res, err := st.SweepIdle(ctx, now, live, 0)
		if err != nil {
			tb.Fatal(err)
		}
		if !res.More {
			return
		}
	}
}

// populateInbox assigns the session to the agent, marks it read and
// notes something on it; every other one is resolved.
func populateInbox(tb testing.TB, ctx context.Context, st *storage.Store, sid string, at time.Time, i int) {
	tb.Helper()
	_, err := st.UpdateConversation(ctx, sid, at, func(c *storage.Conversation) {
		c.Assignee, c.Read = "ada", map[string]string{"ada": "01KJ000000000000000000000"}
		if i%8 == 1 {
			c.Status = storage.ConversationResolved
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.AddNote(ctx, &storage.Note{Session: sid, Agent: "ada", AgentName: "Ada", Text: "called back", At: at}); err != nil {
		tb.Fatal(err)
	}
}

// populateDeliveries delivers the CRM's first events and fails the next
// few, which stay in the outbox, logged, with the endpoint's state.
func populateDeliveries(tb testing.TB, ctx context.Context, st *storage.Store, at time.Time) {
	tb.Helper()
	evs, err := st.Outbox(ctx, "shop/crm", "", 6)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range evs {
		e := &evs[i]
		at = at.Add(time.Second)
		a := &storage.Attempt{EventID: e.ID, Type: e.Type, Lane: e.Lane, Visitor: e.Visitor, At: at, Attempt: 1,
			Outcome: storage.OutcomeDelivered, Status: 204, TookMs: 12, Body: e.Body}
		state := &storage.EndpointState{LastSuccessAt: at}
		if i >= 3 {
			e.Attempts, e.NextAt, e.FirstFailedAt = 1, at.Add(time.Minute), at
			a.Outcome, a.Status, a.Error, a.NextAt = storage.OutcomeFailed, 503, "503 Service Unavailable", e.NextAt
			state = &storage.EndpointState{LastSuccessAt: at.Add(-time.Second), LastFailureAt: at, FailingSince: at}
		}
		if err := st.OutboxDone(ctx, e, a, state); err != nil {
			tb.Fatal(err)
		}
	}
}

// populateOther starts a short session of another browser of the same
// person, to be merged.
func populateOther(tb testing.TB, ctx context.Context, st *storage.Store, v *storage.Visitor, at time.Time, i int) string {
	tb.Helper()
	at = at.Add(-30 * time.Minute)
	o := &storage.Visitor{ID: storage.NewID(at), Site: v.Site, Channel: "web", CreatedAt: at, LastSeenAt: at}
	sess := &storage.Session{ID: storage.NewID(at), Site: v.Site, VisitorID: o.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: at}
	open := &storage.Turn{Messages: []storage.Message{{From: storage.FromBot, Kind: storage.KindBot, At: at, Text: "Hi again", Block: "intro"}},
		State: &storage.State{Current: "intro", Reached: []string{"intro"}}}
	if err := st.StartSession(ctx, o, sess, open); err != nil {
		tb.Fatal(err)
	}
	return o.ID
}

// populateFile uploads a file of a little over one chunk into the
// session and sends it.
func populateFile(tb testing.TB, ctx context.Context, st *storage.Store, r *rand.Rand, v *storage.Visitor, sid string, at time.Time) {
	tb.Helper()
	data := make([]byte, storage.FileChunkSize+r.IntN(5000))
	for i := range data {
		data[i] = byte(r.IntN(256))
	}
	f := &storage.File{ID: storage.NewID(at), Site: v.Site, VisitorID: v.ID, SessionID: sid, Name: "scan.pdf", Type: "application/pdf", UploadedAt: at}
	if err := storage.NewFiles(st).Put(ctx, f, bytes.NewReader(data), storage.Quota{}); err != nil {
		tb.Fatal(err)
	}
	ref := f.Ref()
	turn := &storage.Turn{SessionID: sid, Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindFile, At: at, File: &ref}}}
	if _, _, _, err := st.RecordTurn(ctx, turn); err != nil {
		tb.Fatal(err)
	}
}

// populateSession plays one session of v and returns its ID.
func populateSession(tb testing.TB, ctx context.Context, st *storage.Store, r *rand.Rand, v *storage.Visitor, at time.Time, i, s int) string {
	tb.Helper()
	bot := []string{"demo", "support"}[r.IntN(2)]
	sess := &storage.Session{ID: storage.NewID(at), Site: v.Site, VisitorID: v.ID, Bot: bot, Version: fmt.Sprint(1 + r.IntN(2)),
		Channel: []string{"web", "app"}[r.IntN(2)], Device: v.Device, Page: "/pricing", Lang: "de", Locale: "de-ch", Type: "lead", StartedAt: at}
	state := storage.State{Current: "intro", Reached: []string{"intro"}, Pending: "menu",
		HostVariables: map[string]string{"plan": []string{"free", "pro"}[r.IntN(2)], "page": fmt.Sprint(i)}}
	open := &storage.Turn{Messages: []storage.Message{
		{From: storage.FromBot, Kind: storage.KindBot, At: at, Text: "Hello! What brings you here?", Block: "intro",
			Options: []storage.Option{{ID: "a", Label: "Pricing"}, {ID: "b", Label: "Support"}},
			Trace:   []storage.Step{{Block: "intro"}}},
	}, State: &state}
	if err := st.StartSession(ctx, v, sess, open); err != nil {
		tb.Fatal(err)
	}
	for t := range r.IntN(6) {
		at = at.Add(time.Duration(1+r.IntN(120)) * time.Second)
		turn := &storage.Turn{SessionID: sess.ID, ClientID: fmt.Sprintf("c%d-%d", s, t)}
		next := state
		next.Reached = append([]string(nil), state.Reached...)
		switch t % 4 {
		case 0:
			turn.Messages = []storage.Message{{From: storage.FromVisitor, Kind: storage.KindChoice, At: at, Text: "Pricing", Option: "a", ClientID: turn.ClientID}}
			next.Goals, next.Tags = []string{"pricing"}, []string{"hot"}
		case 1:
			email := fmt.Sprintf("person%d@example.com", i)
			turn.Messages = []storage.Message{{From: storage.FromVisitor, Kind: storage.KindInput, At: at, Text: email, Value: email, Block: "email", ClientID: turn.ClientID}}
			turn.Inputs = []storage.Input{{Block: "email", Variable: "email", Kind: "email", Value: email, At: at}}
			next.Variables = map[string]string{"email": email}
		case 2:
			sent := &storage.Sentiment{Label: storage.SentimentNegative, Score: -0.5, At: at}
			turn.Messages = []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: at, Text: "does it ship to Austria?",
				ClientID: turn.ClientID, Sentiment: sent, Unanswered: true}}
			turn.Gaps = []storage.Gap{{At: at, Text: "does it ship to Austria?"}}
			next.UnansweredCount++
			next.Sentiment = &storage.SessionSentiment{Label: sent.Label, Mean: -0.5, Min: -0.5, Scored: 1, Last: *sent}
		case 3:
			turn.ClientID = ""
			turn.Messages = []storage.Message{{From: storage.FromBot, Kind: storage.KindBot, At: at, Text: "One moment, a person will answer.", Block: "human"}}
			next.Handover = &storage.Handover{Status: storage.HandoverWaiting, WaitingSince: at, Block: "human", TimeoutAt: at.Add(5 * time.Minute)}
			next.Ended = r.IntN(2) == 0
		}
		next.Current, next.Previous = fmt.Sprintf("b%d", t), state.Current
		next.Reached = append(next.Reached, next.Current)
		turn.State = &next
		if _, _, _, err := st.RecordTurn(ctx, turn); err != nil {
			tb.Fatal(err)
		}
		state = next
	}
	return sess.ID
}
