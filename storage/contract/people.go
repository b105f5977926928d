package contract

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// AgentEngine is what TestAgents needs of an engine: the console's agents
// and signed-in consoles.
type AgentEngine interface {
	AddAgent(ctx context.Context, a *storage.Agent) error
	Agent(ctx context.Context, name string) (*storage.Agent, error)
	Agents(ctx context.Context) ([]storage.Agent, error)
	RevokeAgent(ctx context.Context, name string) error
	PutConsoleSession(ctx context.Context, tokenHash string, cs storage.ConsoleSession, now time.Time) error
	ConsoleSession(ctx context.Context, tokenHash string) (storage.ConsoleSession, error)
	DeleteConsoleSession(ctx context.Context, tokenHash string) error
}

// PeopleEngine is what TestPeople needs: agents, the inbox, identify and
// profiles.
type PeopleEngine interface {
	AgentEngine
	InboxEngine
	IdentifyEngine
}

// TestPeople runs the suites of the people around the conversations:
// agents, the inbox, identify and profile edits.
func TestPeople(t *testing.T, open func(testing.TB) PeopleEngine) {
	t.Run("Agents", func(t *testing.T) { TestAgents(t, func(tb testing.TB) AgentEngine { return open(tb) }) })
	t.Run("Inbox", func(t *testing.T) { TestInbox(t, func(tb testing.TB) InboxEngine { return open(tb) }) })
	t.Run("Identify", func(t *testing.T) { TestIdentify(t, func(tb testing.TB) IdentifyEngine { return open(tb) }) })
}

// The people suites' helpers are named pp…, beside the other areas'
// suites in the package.

// ppDay is the suite's calendar: every time is on it, whole microseconds,
// in UTC (what every engine keeps of a time).
var ppDay = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// ppHash is a stand-in SHA-256 in hex, unique per seed.
func ppHash(seed string) string {
	h := strings.Repeat("0", 64) + seed
	return h[len(h)-64:]
}

// TestAgents: agents are added once, listed by name, revoked with their
// consoles; consoles expire and sign out; bad records are refused whole.
func TestAgents(t *testing.T, open func(testing.TB) AgentEngine) {
	ctx := context.Background()
	s := open(t)
	if l, err := s.Agents(ctx); err != nil || len(l) != 0 {
		t.Fatalf("agents of an empty store: %+v %v", l, err)
	}
	ana := &storage.Agent{Name: "ana", DisplayName: "Ana", SecretHash: ppHash("a1"), CreatedAt: ppDay,
		Email: "ana@example.org", Sites: []string{"demo", "shop"}}
	bo := &storage.Agent{Name: "bo.b-2", DisplayName: "Bo", SecretHash: ppHash("b1"), CreatedAt: ppDay.Add(time.Minute)}
	for _, a := range []*storage.Agent{bo, ana} {
		if err := s.AddAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("ReadBack", func(t *testing.T) {
		got, err := s.Agent(ctx, "ana")
		if err != nil || !ppAgentEqual(got, ana) {
			t.Errorf("got %+v %v, want %+v", got, err, ana)
		}
		l, err := s.Agents(ctx)
		if err != nil || len(l) != 2 || !ppAgentEqual(&l[0], ana) || !ppAgentEqual(&l[1], bo) {
			t.Errorf("agents %+v %v, want ana then bo.b-2", l, err)
		}
		if _, err := s.Agent(ctx, "cy"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("unknown agent: %v, want ErrNotFound", err)
		}
		// A name no agent can have is unknown too, whatever it holds.
		if _, err := s.Agent(ctx, "a\x00b"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("agent a\\x00b: %v, want ErrNotFound", err)
		}
		if err := s.RevokeAgent(ctx, "a\x00b"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("revoke a\\x00b: %v, want ErrNotFound", err)
		}
	})
	t.Run("ByteOrder", func(t *testing.T) {
		// Names differing in punctuation list in byte order, as the
		// names' keys do, whatever the database's collation.
		other := ppHash("o1")
		for _, name := range []string{"bo_x", "box", "bo.x", "bo-x", "bo0"} {
			if err := s.AddAgent(ctx, &storage.Agent{Name: name, DisplayName: name, SecretHash: other, CreatedAt: ppDay}); err != nil {
				t.Fatal(err)
			}
		}
		l, err := s.Agents(ctx)
		var names []string
		for _, a := range l {
			names = append(names, a.Name)
		}
		if want := []string{"ana", "bo-x", "bo.b-2", "bo.x", "bo0", "bo_x", "box"}; err != nil || !slices.Equal(names, want) {
			t.Errorf("agents %v %v, want %v", names, err, want)
		}
		for _, name := range []string{"bo_x", "box", "bo.x", "bo-x", "bo0"} {
			if err := s.RevokeAgent(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("Exists", func(t *testing.T) {
		again := *ana
		again.DisplayName, again.SecretHash = "Another Ana", ppHash("a2")
		if err := s.AddAgent(ctx, &again); !errors.Is(err, storage.ErrExists) {
			t.Errorf("a taken name: %v, want ErrExists", err)
		}
		if got, _ := s.Agent(ctx, "ana"); got == nil || got.SecretHash != ana.SecretHash {
			t.Errorf("the first ana was replaced: %+v", got)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		for name, a := range map[string]storage.Agent{
			"upper case":   {Name: "Ana2", DisplayName: "A", SecretHash: ppHash("x")},
			"empty name":   {Name: "", DisplayName: "A", SecretHash: ppHash("x")},
			"long name":    {Name: strings.Repeat("a", 65), DisplayName: "A", SecretHash: ppHash("x")},
			"leading dot":  {Name: ".ana", DisplayName: "A", SecretHash: ppHash("x")},
			"no display":   {Name: "cy", SecretHash: ppHash("x")},
			"long display": {Name: "cy", DisplayName: strings.Repeat("d", 101), SecretHash: ppHash("x")},
			"no hash":      {Name: "cy", DisplayName: "Cy"},
			"bad email":    {Name: "cy", DisplayName: "Cy", SecretHash: ppHash("x"), Email: "Cy <cy@example.org>"},
		} {
			a.CreatedAt = ppDay
			if err := s.AddAgent(ctx, &a); err == nil || errors.Is(err, storage.ErrExists) {
				t.Errorf("%s: %v, want a validation error", name, err)
			}
		}
		if l, _ := s.Agents(ctx); len(l) != 2 {
			t.Errorf("a refused agent was stored: %+v", l)
		}
	})
	t.Run("Consoles", func(t *testing.T) {
		now := ppDay.Add(time.Hour)
		put := func(token, agent string, expires time.Time, now time.Time) {
			t.Helper()
			if err := s.PutConsoleSession(ctx, ppHash(token), storage.ConsoleSession{Agent: agent, ExpiresAt: expires}, now); err != nil {
				t.Fatal(err)
			}
		}
		put("c1", "ana", now.Add(time.Hour), now)
		put("c2", "bo.b-2", now.Add(time.Minute), now)
		got, err := s.ConsoleSession(ctx, ppHash("c1"))
		if err != nil || got.Agent != "ana" || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Errorf("console c1: %+v %v", got, err)
		}
		if _, err := s.ConsoleSession(ctx, ppHash("none")); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("unknown console: %v, want ErrNotFound", err)
		}
		// A sign-in at c2's expiry drops it, not c1.
		put("c3", "ana", now.Add(2*time.Hour), now.Add(time.Minute))
		if _, err := s.ConsoleSession(ctx, ppHash("c2")); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("expired console c2: %v, want it dropped", err)
		}
		if _, err := s.ConsoleSession(ctx, ppHash("c1")); err != nil {
			t.Errorf("console c1 after another sign-in: %v", err)
		}
		if err := s.DeleteConsoleSession(ctx, ppHash("c3")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ConsoleSession(ctx, ppHash("c3")); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("signed-out console c3: %v", err)
		}
		if err := s.DeleteConsoleSession(ctx, ppHash("c3")); err != nil {
			t.Errorf("signing out twice: %v", err)
		}
	})
	t.Run("Revoke", func(t *testing.T) {
		now := ppDay.Add(3 * time.Hour)
		for _, c := range []struct{ token, agent string }{{"r1", "ana"}, {"r2", "ana"}, {"r3", "bo.b-2"}} {
			if err := s.PutConsoleSession(ctx, ppHash(c.token), storage.ConsoleSession{Agent: c.agent, ExpiresAt: now.Add(time.Hour)}, now); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RevokeAgent(ctx, "ana"); err != nil {
			t.Fatal(err)
		}
		for _, token := range []string{"r1", "r2", "c1"} {
			if _, err := s.ConsoleSession(ctx, ppHash(token)); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("console %s of the revoked agent: %v, want it gone", token, err)
			}
		}
		if cs, err := s.ConsoleSession(ctx, ppHash("r3")); err != nil || cs.Agent != "bo.b-2" {
			t.Errorf("another agent's console: %+v %v", cs, err)
		}
		if _, err := s.Agent(ctx, "ana"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("revoked agent: %v, want ErrNotFound", err)
		}
		if err := s.RevokeAgent(ctx, "ana"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("revoking twice: %v, want ErrNotFound", err)
		}
		// The name is free again.
		if err := s.AddAgent(ctx, ana); err != nil {
			t.Errorf("adding ana again: %v", err)
		}
	})
}

// ppAgentEqual compares agents field by field, times by instant.
func ppAgentEqual(a, b *storage.Agent) bool {
	return a.Name == b.Name && a.DisplayName == b.DisplayName && a.SecretHash == b.SecretHash &&
		a.CreatedAt.Equal(b.CreatedAt) && a.Email == b.Email && slices.Equal(a.Sites, b.Sites)
}
