package contract

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// SessionStarter starts sessions and records turns: what the people
// suites need to have conversations to work on.
type SessionStarter interface {
	StartSession(ctx context.Context, v *storage.Visitor, sess *storage.Session, opening *storage.Turn) error
	RecordTurn(ctx context.Context, t *storage.Turn) (*storage.Session, storage.Ack, bool, error)
	Session(ctx context.Context, id string) (*storage.Session, error)
}

// InboxEngine is what TestInbox needs of an engine: the hand-over list
// and the inbox's records and notes.
type InboxEngine interface {
	SessionStarter
	Handovers(ctx context.Context) ([]storage.HandoverEntry, error)
	Conversation(ctx context.Context, sid string) (*storage.Conversation, error)
	UpdateConversation(ctx context.Context, sid string, now time.Time, fn func(c *storage.Conversation)) (*storage.Conversation, error)
	AddNote(ctx context.Context, n *storage.Note) error
	Notes(ctx context.Context, sid string) ([]storage.Note, error)
	Conversations(ctx context.Context) ([]storage.Conversation, error)
}

// ppUnknownSession is a well-formed session ID no test creates.
const ppUnknownSession = "01JAAAAAAAAAAAAAAAAAAAAAAA"

// ppStartSession starts a session of a new visitor of the site at t, or of
// visitorID when it is set.
func ppStartSession(tb testing.TB, s SessionStarter, site, visitorID string, t time.Time) *storage.Session {
	tb.Helper()
	if visitorID == "" {
		visitorID = storage.NewID(t)
	}
	v := &storage.Visitor{ID: visitorID, Site: site, Channel: "web", CreatedAt: t, LastSeenAt: t,
		Device: storage.Device{OS: "Linux", Browser: "Firefox 121"}}
	sess := &storage.Session{ID: storage.NewID(t), Site: site, VisitorID: visitorID, Bot: "demo", Version: "1", Channel: "web",
		Device: v.Device, Page: "https://example.org/", StartedAt: t}
	if err := s.StartSession(context.Background(), v, sess, nil); err != nil {
		tb.Fatal(err)
	}
	return sess
}

// TestInbox: the inbox's records (open until resolved, changed by two
// agents at once without a loss), its notes and the hand-over list, and
// the refusals for sessions that do not exist.
func TestInbox(t *testing.T, open func(testing.TB) InboxEngine) {
	ctx := context.Background()
	s := open(t)
	sess := ppStartSession(t, s, "demo", "", ppDay)

	t.Run("OpenUntilResolved", func(t *testing.T) {
		c, err := s.Conversation(ctx, sess.ID)
		if err != nil || c.Session != sess.ID || c.Status != storage.ConversationOpen || c.Assignee != "" || !c.UpdatedAt.IsZero() {
			t.Errorf("a conversation nobody touched: %+v %v, want a new open one", c, err)
		}
		c, err = s.UpdateConversation(ctx, sess.ID, ppDay, func(c *storage.Conversation) { c.Assignee = "ana" })
		if err != nil || c.Status != storage.ConversationOpen || c.Assignee != "ana" || !c.UpdatedAt.Equal(ppDay) {
			t.Fatalf("%+v %v", c, err)
		}
		if l, err := s.Conversations(ctx); err != nil || len(l) != 1 || l[0].Assignee != "ana" || l[0].Session != sess.ID {
			t.Errorf("open: %+v %v", l, err)
		}
		if _, err := s.UpdateConversation(ctx, sess.ID, ppDay.Add(time.Second), func(c *storage.Conversation) { c.Status = storage.ConversationResolved }); err != nil {
			t.Fatal(err)
		}
		if l, _ := s.Conversations(ctx); len(l) != 0 {
			t.Errorf("resolved still listed: %+v", l)
		}
		if c, err := s.Conversation(ctx, sess.ID); err != nil || c.Status != storage.ConversationResolved || c.Assignee != "ana" || !c.UpdatedAt.Equal(ppDay.Add(time.Second)) {
			t.Errorf("resolved record: %+v %v", c, err)
		}
		if _, err := s.UpdateConversation(ctx, sess.ID, ppDay.Add(2*time.Second), func(c *storage.Conversation) { c.Status = storage.ConversationOpen }); err != nil {
			t.Fatal(err)
		}
		if l, _ := s.Conversations(ctx); len(l) != 1 {
			t.Errorf("reopened not listed: %+v", l)
		}
	})
	t.Run("OldestChangeFirst", func(t *testing.T) {
		other := ppStartSession(t, s, "shop", "", ppDay.Add(time.Hour))
		if _, err := s.UpdateConversation(ctx, other.ID, ppDay.Add(time.Second), func(c *storage.Conversation) { c.Assignee = "bo" }); err != nil {
			t.Fatal(err)
		}
		l, err := s.Conversations(ctx)
		if err != nil || len(l) != 2 || l[0].Session != other.ID || l[1].Session != sess.ID {
			t.Errorf("got %+v %v, want %s (changed at +1s) then %s (+2s)", l, err, other.ID, sess.ID)
		}
	})
	t.Run("AgentsAtOnce", func(t *testing.T) {
		// Each agent marks what it read: a read-modify-write of one
		// record. None may be lost to another's.
		const agents = 8
		var wg sync.WaitGroup
		errs := make(chan error, agents)
		for i := range agents {
			wg.Go(func() {
				_, err := s.UpdateConversation(ctx, sess.ID, ppDay.Add(time.Minute), func(c *storage.Conversation) {
					if c.Read == nil {
						c.Read = map[string]string{}
					}
					c.Read[fmt.Sprintf("agent%d", i)] = fmt.Sprintf("m%d", i)
				})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		c, err := s.Conversation(ctx, sess.ID)
		if err != nil || len(c.Read) != agents || c.Read["agent3"] != "m3" || c.Assignee != "ana" {
			t.Errorf("after %d agents at once: %+v %v", agents, c, err)
		}
	})
	t.Run("UnknownSession", func(t *testing.T) {
		if _, err := s.UpdateConversation(ctx, ppUnknownSession, ppDay, func(*storage.Conversation) {}); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("update of an unknown session: %v, want ErrNotFound", err)
		}
		if err := s.AddNote(ctx, &storage.Note{Session: ppUnknownSession, Agent: "ana", Text: "x", At: ppDay}); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("note on an unknown session: %v, want ErrNotFound", err)
		}
		if c, err := s.Conversation(ctx, ppUnknownSession); err != nil || c.Status != storage.ConversationOpen {
			t.Errorf("record of an unknown session: %+v %v", c, err)
		}
		if n, err := s.Notes(ctx, ppUnknownSession); err != nil || len(n) != 0 {
			t.Errorf("notes of an unknown session: %+v %v", n, err)
		}
		if l, _ := s.Conversations(ctx); slices.ContainsFunc(l, func(c storage.Conversation) bool { return c.Session == ppUnknownSession }) {
			t.Errorf("the unknown session is listed: %+v", l)
		}
	})
	t.Run("Notes", func(t *testing.T) {
		var ids []string
		for i, text := range []string{"first", "second", "third"} {
			n := &storage.Note{Session: sess.ID, Agent: "ana", AgentName: "Ana", Text: text, At: ppDay.Add(time.Duration(i/2) * time.Second)}
			if err := s.AddNote(ctx, n); err != nil {
				t.Fatal(err)
			}
			if !storage.ValidID(n.ID) || slices.Contains(ids, n.ID) {
				t.Errorf("note %q got ID %q", text, n.ID)
			}
			ids = append(ids, n.ID)
		}
		n, err := s.Notes(ctx, sess.ID)
		if err != nil || len(n) != 3 {
			t.Fatalf("notes %+v %v", n, err)
		}
		for i, text := range []string{"first", "second", "third"} {
			if n[i].Text != text || n[i].Agent != "ana" || n[i].AgentName != "Ana" || n[i].Session != sess.ID || !n[i].At.Equal(ppDay.Add(time.Duration(i/2)*time.Second)) {
				t.Errorf("note %d: %+v, want %q", i, n[i], text)
			}
		}
	})
	t.Run("Handovers", func(t *testing.T) {
		hand := func(sess *storage.Session, h *storage.Handover) {
			t.Helper()
			if _, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, State: &storage.State{Current: "help", Handover: h}}); err != nil {
				t.Fatal(err)
			}
		}
		if l, err := s.Handovers(ctx); err != nil || len(l) != 0 {
			t.Errorf("handovers before any: %+v %v", l, err)
		}
		early, late, unasked, back := ppStartSession(t, s, "demo", "", ppDay.Add(2*time.Hour)), ppStartSession(t, s, "demo", "", ppDay.Add(3*time.Hour)),
			ppStartSession(t, s, "shop", "", ppDay.Add(4*time.Hour)), ppStartSession(t, s, "demo", "", ppDay.Add(5*time.Hour))
		waiting := func(at time.Time) *storage.Handover {
			return &storage.Handover{Status: storage.HandoverWaiting, WaitingSince: at, Block: "human", TimeoutAt: at.Add(10 * time.Minute)}
		}
		hand(late, waiting(ppDay.Add(3*time.Hour+time.Minute)))
		hand(early, waiting(ppDay.Add(2*time.Hour+time.Minute)))
		held := &storage.Handover{Status: storage.HandoverHeld, HeldSince: ppDay.Add(4 * time.Hour), Agent: "ana", AgentName: "Ana", Resume: "menu"}
		hand(unasked, held)
		hand(back, waiting(ppDay.Add(5*time.Hour)))
		hand(back, nil) // handed back: off the list
		// The early one taken: still listed, as held.
		taken := *waiting(ppDay.Add(2*time.Hour + time.Minute))
		taken.Status, taken.HeldSince, taken.Agent, taken.AgentName = storage.HandoverHeld, ppDay.Add(2*time.Hour+2*time.Minute), "bo", "Bo"
		hand(early, &taken)

		l, err := s.Handovers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []storage.HandoverEntry{
			{Session: unasked.ID, Site: "shop", Visitor: unasked.VisitorID, Handover: *held},
			{Session: early.ID, Site: "demo", Visitor: early.VisitorID, Handover: taken},
			{Session: late.ID, Site: "demo", Visitor: late.VisitorID, Handover: *waiting(ppDay.Add(3*time.Hour + time.Minute))},
		}
		if len(l) != len(want) {
			t.Fatalf("handovers %+v, want %+v", l, want)
		}
		for i := range want {
			if !ppHandoverEntryEqual(l[i], want[i]) {
				t.Errorf("handover %d: %+v, want %+v", i, l[i], want[i])
			}
		}
	})
}

// ppHandoverEntryEqual compares entries field by field, times by instant.
func ppHandoverEntryEqual(a, b storage.HandoverEntry) bool {
	ha, hb := a.Handover, b.Handover
	return a.Session == b.Session && a.Site == b.Site && a.Visitor == b.Visitor &&
		ha.Status == hb.Status && ha.WaitingSince.Equal(hb.WaitingSince) && ha.HeldSince.Equal(hb.HeldSince) &&
		ha.Agent == hb.Agent && ha.AgentName == hb.AgentName && ha.Block == hb.Block && ha.Resume == hb.Resume &&
		ha.TimeoutAt.Equal(hb.TimeoutAt)
}
