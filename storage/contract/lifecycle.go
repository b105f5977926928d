package contract

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// LifecycleEngine is what the lifecycle suite (erase, export, retention,
// the idle sweep, webhook delivery) runs on: the operations it tests, the
// writes it seeds with, and Dump, the test's own view of everything the
// engine holds.
type LifecycleEngine interface {
	StartSession(ctx context.Context, v *storage.Visitor, sess *storage.Session, opening *storage.Turn) error
	RecordTurn(ctx context.Context, t *storage.Turn) (*storage.Session, storage.Ack, bool, error)
	Visitor(ctx context.Context, id string) (*storage.Visitor, error)
	Session(ctx context.Context, id string) (*storage.Session, error)
	SetOutbox(c storage.OutboxConfig)
	OutboxStats(endpoint string) storage.OutboxStats
	EditProfile(ctx context.Context, visitorID string, e storage.ProfileEdit) (*storage.Visitor, error)
	AddNote(ctx context.Context, n *storage.Note) error
	UpdateConversation(ctx context.Context, sid string, now time.Time, fn func(c *storage.Conversation)) (*storage.Conversation, error)
	Identify(ctx context.Context, req storage.IdentifyRequest) (*storage.IdentifyResult, error)

	OnErase(fn func(visitorID string))
	EraseVisitor(ctx context.Context, id string) (storage.EraseResult, error)
	WriteExport(ctx context.Context, w io.Writer, visitorID string, at time.Time, download func(f *storage.File) string) error
	SweepRetention(ctx context.Context, now time.Time, r storage.Retention) (storage.SweepResult, error)
	SweepIdle(ctx context.Context, now time.Time, live storage.Liveness, limit int) (storage.IdleSweep, error)

	Outbox(ctx context.Context, endpoint, after string, limit int) ([]storage.OutboxEntry, error)
	OutboxDone(ctx context.Context, e *storage.OutboxEntry, a *storage.Attempt, st *storage.EndpointState) error
	DeliveryLog(ctx context.Context, endpoint string, limit int) ([]storage.Attempt, error)
	Resend(ctx context.Context, endpoint, id string) (*storage.OutboxEntry, error)
	EndpointState(ctx context.Context, endpoint string) (storage.EndpointState, error)
	SetEndpointState(ctx context.Context, endpoint string, st storage.EndpointState) error

	// Verify runs parley check's checks: an erase leaves the store sound.
	Verify(ctx context.Context) (*storage.VerifyReport, error)

	// Dump returns everything the engine holds, one entry per key or
	// row, its value as text: an erased visitor's IDs must be in none.
	Dump(tb testing.TB) map[string]string
}

// FileEngine is a LifecycleEngine that keeps uploaded files too: the
// suite then seeds each session with one, and checks that an erase takes
// it.
type FileEngine interface {
	PutFile(ctx context.Context, f *storage.File, r io.Reader) error
	File(ctx context.Context, id string) (*storage.File, error)
}

// TestLifecycle runs the lifecycle suite on engines open returns, a new
// empty one for each test.
func TestLifecycle(t *testing.T, open func(testing.TB) LifecycleEngine) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, e LifecycleEngine)
	}{
		{"Erase/Complete", lcTestEraseComplete},
		{"Erase/BadInput", lcTestEraseBadInput},
		{"Erase/ConcurrentTurns", lcTestEraseConcurrentTurns},
		{"Erase/ComesBack", lcTestEraseComesBack},
		{"Erase/ConcurrentUpload", lcTestEraseConcurrentUpload},
		{"Export", lcTestExport},
		{"Retention", lcTestRetention},
		{"Retention/ActivityKeeps", lcTestRetentionActivityKeeps},
		{"Idle", lcTestIdle},
		{"Idle/Bounded", lcTestIdleBounded},
		{"Idle/EraseHeld", lcTestIdleEraseHeld},
		{"Webhooks/DoneLogResend", lcTestDoneLogResend},
		{"Webhooks/BadInput", lcTestWebhooksBadInput},
		{"Webhooks/Erase", lcTestWebhooksErase},
		{"Webhooks/RetentionErase", lcTestWebhooksRetentionErase},
		{"Webhooks/EraseMerged", lcTestWebhooksEraseMerged},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

// lcDayLen is a day of retention.
const lcDayLen = 24 * time.Hour

// lcStart is when the seeded visitors begin.
var lcStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// lcSeeded is a visitor seeded by lcSeed, with every ID it owns.
type lcSeeded struct {
	ID       string
	Site     string
	Sessions []string
	Files    []string
}

// ids lists every ID that nothing the engine holds may mention once the
// visitor is erased.
func (v lcSeeded) ids() []string {
	return append(append([]string{v.ID}, v.Sessions...), v.Files...)
}

// lcSeed records a visitor of site with n sessions through the write path
// the gateway uses: each session gets a choice, a name, an email and a
// phone input, tags, a goal, an agent's note and an inbox record and, on
// an engine that keeps files, an uploaded file of 600 KB, so every kind of
// row exists: 7 messages with a file, 6 without. An admin edits the
// visitor's notes once. The first session starts at t0, the others an hour
// apart; the visitor's last activity is its last session's start plus 5 s.
func lcSeed(tb testing.TB, e LifecycleEngine, site string, t0 time.Time, name, email string, n int) lcSeeded {
	tb.Helper()
	ctx := context.Background()
	files, withFile := e.(FileEngine)
	out := lcSeeded{ID: storage.NewID(t0), Site: site}
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Hour)
		v := &storage.Visitor{ID: out.ID, Site: site, Channel: "web", CreatedAt: t0, LastSeenAt: at,
			Device: storage.Device{OS: "Linux", Browser: "Firefox 121"}}
		sess := &storage.Session{ID: storage.NewID(at), Site: site, VisitorID: out.ID, Bot: "demo", Version: "1", Channel: "web",
			Device: v.Device, Page: "https://example.org/p?v=" + out.ID, StartedAt: at}
		if err := e.StartSession(ctx, v, sess, nil); err != nil {
			tb.Fatal(err)
		}
		out.Sessions = append(out.Sessions, sess.ID)
		st := storage.State{Current: "menu", Reached: []string{"welcome", "menu"}}
		turn := func(clientID string, dt time.Duration, msgs []storage.Message, inputs []storage.Input, st storage.State) {
			tb.Helper()
			for j := range msgs {
				msgs[j].At = at.Add(dt)
			}
			for j := range inputs {
				inputs[j].At = at.Add(dt)
			}
			_, _, _, err := e.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, ClientID: clientID, Messages: msgs, Inputs: inputs, State: &st})
			if err != nil {
				tb.Fatal(err)
			}
		}
		turn("", 0, []storage.Message{{From: storage.FromBot, Kind: storage.KindBot, Text: "What brings you here?", Block: "menu",
			Options: []storage.Option{{ID: "demo", Label: "Show me a demo"}}}}, nil, st)
		st.Reached, st.Current, st.Previous = append(st.Reached, "ask_name"), "ask_name", "menu"
		turn("c1", time.Second, []storage.Message{
			{From: storage.FromVisitor, Kind: storage.KindChoice, Block: "menu", Option: "demo", Text: "Show me a demo", ClientID: "c1"},
			{From: storage.FromBot, Kind: storage.KindBot, Text: "What's your first name?", Block: "ask_name"},
		}, nil, st)
		st.Variables = map[string]string{"first_name": name}
		turn("c2", 2*time.Second, []storage.Message{
			{From: storage.FromVisitor, Kind: storage.KindInput, Block: "ask_name", Text: name, Value: name, ClientID: "c2"},
		}, []storage.Input{{Block: "ask_name", Variable: "first_name", Kind: "text", Value: name}}, st)
		st.Variables["email"] = email
		st.Tags, st.Goals = []string{"test-address"}, []string{"lead"}
		st.Reached = append(st.Reached, "ask_email", "lead")
		turn("c3", 3*time.Second, []storage.Message{
			{From: storage.FromVisitor, Kind: storage.KindInput, Block: "ask_email", Text: email, Value: email, ClientID: "c3"},
		}, []storage.Input{{Block: "ask_email", Variable: "email", Kind: "email", Value: email}}, st)
		phone := fmt.Sprintf("+49 30 %07d", i)
		turn("c4", 4*time.Second, []storage.Message{
			{From: storage.FromVisitor, Kind: storage.KindInput, Block: "ask_phone", Text: phone, Value: phone, ClientID: "c4"},
		}, []storage.Input{{Block: "ask_phone", Variable: "phone", Kind: "phone", Value: phone}}, st)
		if withFile {
			f := &storage.File{ID: storage.NewID(at.Add(5 * time.Second)), Site: site, VisitorID: out.ID, SessionID: sess.ID,
				Name: "scan-" + out.ID + ".pdf", Type: "application/pdf", UploadedAt: at.Add(5 * time.Second)}
			if err := files.PutFile(ctx, f, strings.NewReader(strings.Repeat(out.ID, 600_000/26))); err != nil {
				tb.Fatal(err)
			}
			ref := f.Ref()
			turn("", 5*time.Second, []storage.Message{{From: storage.FromVisitor, Kind: storage.KindFile, Text: f.Name, File: &ref}}, nil, st)
			out.Files = append(out.Files, f.ID)
		} else {
			if _, _, _, err := e.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, Touch: at.Add(5 * time.Second)}); err != nil {
				tb.Fatal(err)
			}
		}
		note := &storage.Note{Session: sess.ID, Agent: "grace", AgentName: "Grace", Text: "called " + name + " back", At: at.Add(6 * time.Second)}
		if err := e.AddNote(ctx, note); err != nil {
			tb.Fatal(err)
		}
		if _, err := e.UpdateConversation(ctx, sess.ID, at.Add(6*time.Second), func(c *storage.Conversation) { c.Assignee = "grace" }); err != nil {
			tb.Fatal(err)
		}
	}
	notes := "met " + name + " at the fair"
	if _, err := e.EditProfile(ctx, out.ID, storage.ProfileEdit{Notes: &notes, By: "admin", At: t0.Add(time.Duration(n) * time.Hour)}); err != nil {
		tb.Fatal(err)
	}
	return out
}

// lcMessagesPer is how many messages lcSeed gives each session.
func lcMessagesPer(e LifecycleEngine) int {
	if _, ok := e.(FileEngine); ok {
		return 7
	}
	return 6
}

// lcSession starts a session of a new visitor of site demo at t.
func lcSession(tb testing.TB, e LifecycleEngine, t time.Time) *storage.Session {
	tb.Helper()
	return lcSessionOf(tb, e, "demo", storage.NewID(t), t)
}

// lcSessionOf starts a session of the visitor of site at t.
func lcSessionOf(tb testing.TB, e LifecycleEngine, site, visitor string, t time.Time) *storage.Session {
	tb.Helper()
	v := &storage.Visitor{ID: visitor, Site: site, Channel: "web", CreatedAt: t}
	sess := &storage.Session{ID: storage.NewID(t), Site: site, VisitorID: visitor, Bot: "demo", Version: "1", Channel: "web", StartedAt: t}
	if err := e.StartSession(context.Background(), v, sess, nil); err != nil {
		tb.Fatal(err)
	}
	return sess
}

// lcAssertGone checks that nothing the engine holds mentions the visitor,
// except what leftOK allows (an entry and its value).
func lcAssertGone(tb testing.TB, e LifecycleEngine, gone lcSeeded, leftOK func(k, v string) bool) {
	tb.Helper()
	for k, v := range e.Dump(tb) {
		for _, id := range gone.ids() {
			if (strings.Contains(k, id) || strings.Contains(v, id)) && (leftOK == nil || !leftOK(k, v)) {
				tb.Errorf("%q (%.100q) still mentions %s", k, v, id)
				break
			}
		}
	}
}

// lcAssertSound fails the test if Verify finds any inconsistency.
func lcAssertSound(tb testing.TB, e LifecycleEngine) {
	tb.Helper()
	r, err := e.Verify(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range r.Problems {
		tb.Errorf("verify: %s", p)
	}
}

// lcAssertKept checks that the visitor and its sessions are all there.
func lcAssertKept(tb testing.TB, e LifecycleEngine, v lcSeeded) {
	tb.Helper()
	ctx := context.Background()
	if _, err := e.Visitor(ctx, v.ID); err != nil {
		tb.Errorf("visitor %s of %s: %v; want it kept", v.ID, v.Site, err)
	}
	for _, sid := range v.Sessions {
		if _, err := e.Session(ctx, sid); err != nil {
			tb.Errorf("session %s of %s: %v; want it kept", sid, v.ID, err)
		}
	}
}
