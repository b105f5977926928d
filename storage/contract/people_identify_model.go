package contract

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// ppModelVisitor is what a visitor's record must say, worked out from the
// turns the test recorded (not by the engine's rules).
type ppModelVisitor struct {
	id, user                   string
	created, seen, interaction time.Time
	inputAt                    time.Time
	name, email, message       string
	sessions                   []string
}

// typed rolls a visitor's turn into the model.
func (m *ppModelVisitor) typed(at time.Time, text, name, email string) {
	m.seen = ppLater(m.seen, at)
	if at.After(m.interaction) {
		m.interaction, m.message = at, text
	}
	if name != "" && !at.Before(m.inputAt) {
		m.inputAt, m.name, m.email = at, name, email
	}
}

// absorb is a merge as the model sees it: the earliest creation, the
// latest activity, the contact of the one who typed last.
func (m *ppModelVisitor) absorb(from *ppModelVisitor) {
	m.created = ppEarlier(m.created, from.created)
	m.seen = ppLater(m.seen, from.seen)
	if from.interaction.After(m.interaction) {
		m.interaction, m.message = from.interaction, from.message
	}
	if from.inputAt.After(m.inputAt) {
		m.inputAt, m.name, m.email = from.inputAt, from.name, from.email
	}
	m.sessions = append(m.sessions, from.sessions...)
}

func ppLater(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func ppEarlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// testIdentifyModel identifies two thirds of a few dozen random visitors
// as one of a few users, most of whose browsers are then merged, some
// right after a turn, and checks every record against the model.
func testIdentifyModel(t *testing.T, s IdentifyEngine) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(23, 2))
	const visitors = 24
	model := map[string]*ppModelVisitor{}
	var ids []string
	sessionOf := map[string]string{} // session → visitor, as the model has it
	for i := range visitors {
		created := ppDay.Add(time.Duration(i*3) * time.Hour)
		m := &ppModelVisitor{id: storage.NewID(created), created: created, seen: created}
		for j := range 1 + r.IntN(3) {
			start := created.Add(time.Duration(j) * time.Hour)
			sess := ppStartSession(t, s, "demo", m.id, start)
			m.sessions = append(m.sessions, sess.ID)
			sessionOf[sess.ID] = m.id
			at := start.Add(time.Duration(1+r.IntN(50)) * time.Minute)
			text, name, email := fmt.Sprintf("hi from %d.%d", i, j), fmt.Sprintf("N%d.%d", i, j), fmt.Sprintf("e%d.%d@example.org", i, j)
			turn := &storage.Turn{SessionID: sess.ID, Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: at, Text: text}},
				State: &storage.State{Current: "ask"}}
			if r.IntN(4) > 0 { // most type their name and email
				turn.Inputs = []storage.Input{{Block: "ask", Variable: "name", Kind: "text", Value: name, At: at},
					{Block: "ask", Variable: "email", Kind: "email", Value: email, At: at}}
			} else {
				name, email = "", ""
			}
			if _, _, _, err := s.RecordTurn(ctx, turn); err != nil {
				t.Fatal(err)
			}
			m.typed(at, text, name, email)
		}
		model[m.id] = m
		ids = append(ids, m.id)
	}
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })

	users := map[string]string{} // user → visitor
	merges := 0
	for i, vid := range ids {
		if i%3 == 2 {
			continue // stays anonymous
		}
		m := model[vid]
		if r.IntN(2) == 0 {
			// A turn right before the identify, from the session as its
			// owner holds it.
			sid := m.sessions[r.IntN(len(m.sessions))]
			prev, err := s.Session(ctx, sid)
			if err != nil {
				t.Fatal(err)
			}
			at := ppLater(m.seen, prev.LastActivityAt).Add(time.Minute)
			if _, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sid, Prev: prev, ClientID: "late",
				Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: at, Text: "still here", ClientID: "late"}}}); err != nil {
				t.Fatal(err)
			}
			m.typed(at, "still here", "", "")
		}
		user := fmt.Sprintf("acct%c", 'k'+r.IntN(5))
		res := ppIdentifyAs(t, s, vid, user, ppDay.AddDate(0, 1, 0))
		owner, ok := users[user]
		switch {
		case !ok:
			if res.VisitorID != vid || res.Merged != "" {
				t.Fatalf("first identify of %s: %+v, want it to claim %s", user, res, vid)
			}
			users[user], m.user = vid, user
		case res.VisitorID != owner || res.Merged != vid:
			t.Fatalf("identify %s as %s: %+v, want a merge into %s", vid, user, res, owner)
		default:
			merges++
			if got := slices.Sorted(slices.Values(res.Sessions)); !slices.Equal(got, slices.Sorted(slices.Values(m.sessions))) {
				t.Errorf("merge of %s moved %v, want %v", vid, got, m.sessions)
			}
			model[owner].absorb(m)
			for _, sid := range m.sessions {
				sessionOf[sid] = owner
			}
			delete(model, vid)
			if into, err := s.MergedInto(ctx, vid); err != nil || into != owner {
				t.Errorf("MergedInto(%s) = %q %v, want %s", vid, into, err, owner)
			}
		}
	}
	if merges < 5 {
		t.Fatalf("only %d merges: the model does not exercise them", merges)
	}

	for user, vid := range users {
		if got, err := s.PlatformVisitor(ctx, "demo", user); err != nil || got != vid {
			t.Errorf("PlatformVisitor(%s) = %q %v, want %s", user, got, err, vid)
		}
	}
	for sid, vid := range sessionOf {
		if sess, err := s.Session(ctx, sid); err != nil || sess.VisitorID != vid {
			t.Errorf("session %s: visitor %q %v, want %s", sid, sess.VisitorID, err, vid)
		}
	}
	for _, m := range model {
		v, err := s.Visitor(ctx, m.id)
		if err != nil {
			t.Fatalf("visitor %s: %v", m.id, err)
		}
		contact := m.email
		if v.PlatformID != m.user || !v.CreatedAt.Equal(m.created) || !v.LastSeenAt.Equal(m.seen) ||
			!v.LastInteractionAt.Equal(m.interaction) || !v.LastInputAt.Equal(m.inputAt) || v.Name != m.name ||
			v.Email != m.email || v.Contact != contact || v.LastMessage != m.message {
			t.Errorf("visitor %s:\n got user %q created %v seen %v interaction %v input %v name %q email %q contact %q message %q\nwant user %q created %v seen %v interaction %v input %v name %q email %q message %q",
				m.id, v.PlatformID, v.CreatedAt, v.LastSeenAt, v.LastInteractionAt, v.LastInputAt, v.Name, v.Email, v.Contact, v.LastMessage,
				m.user, m.created, m.seen, m.interaction, m.inputAt, m.name, m.email, m.message)
		}
	}
	for _, vid := range ids {
		_, kept := model[vid]
		if ok, err := s.HasVisitor(ctx, vid); err != nil || ok != kept {
			t.Errorf("HasVisitor(%s) = %v %v, want %v", vid, ok, err, kept)
		}
	}
}
