package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// MustOpen opens a store in a temp dir, closed when the test ends.
func MustOpen(tb testing.TB) (*storage.Store, string) {
	tb.Helper()
	dir := tb.TempDir()
	s, err := storage.Open(dir, storage.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, dir
}

// mustSession creates a visitor with one session started at t.
func mustSession(tb testing.TB, s *storage.Store, visitor string, t time.Time) *storage.Session {
	tb.Helper()
	v := &storage.Visitor{ID: visitor, Site: "demo", Channel: "web", CreatedAt: t}
	sess := &storage.Session{ID: storage.NewID(t), Site: "demo", VisitorID: visitor, Bot: "demo", Version: "1", Channel: "web", StartedAt: t}
	if err := s.CreateSession(context.Background(), v, sess); err != nil {
		tb.Fatal(err)
	}
	return sess
}

func TestRecordTurn_IdempotentByClientID(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sess := mustSession(t, s, storage.NewID(t0), t0)

	turn := func(text string) (storage.Ack, bool) {
		_, ack, dup, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, ClientID: "c1", Messages: []storage.Message{
			{From: storage.FromVisitor, Kind: storage.KindText, At: t0.Add(time.Second), Text: text, ClientID: "c1"},
			{From: storage.FromBot, Kind: storage.KindBot, At: t0.Add(time.Second), Text: "reply"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return ack, dup
	}
	first, dup := turn("hello")
	if dup || first.ID == "" {
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
	if len(msgs) != 2 || msgs[0].Text != "hello" || msgs[1].Text != "reply" {
		t.Fatalf("messages = %+v, want the first turn only, in order", msgs)
	}
	got, err := s.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.MessageCount != 2 || !got.HasResponses || got.Engaged || !got.LastInteractionAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("session rollups = count %d responses %v engaged %v last %v", got.MessageCount, got.HasResponses, got.Engaged, got.LastInteractionAt)
	}
}

func TestRecordTurn_Rollups(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	vid := storage.NewID(t0)
	sess := mustSession(t, s, vid, t0)
	in := func(at time.Time, variable, kind, value string) storage.Input {
		return storage.Input{Block: variable, Variable: variable, Kind: kind, Value: value, At: at}
	}
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
	v, err := s.Visitor(ctx, vid)
	if err != nil {
		t.Fatal(err)
	}
	if v.Label() != "+49301234567" || v.Name != "Ann" || v.Email != "ann@example.org" {
		t.Errorf("visitor label %q name %q email %q", v.Label(), v.Name, v.Email)
	}
	if !v.LastInputAt.Equal(t0.Add(4 * time.Minute)) {
		t.Errorf("lastInputAt = %v", v.LastInputAt)
	}
	got, _ := s.Session(ctx, sess.ID)
	if !got.Engaged || !got.HasInputs || got.HasFiles || len(got.Inputs) != 4 {
		t.Errorf("session flags engaged %v inputs %v files %v (%d inputs)", got.Engaged, got.HasInputs, got.HasFiles, len(got.Inputs))
	}
}

func TestRecordTurn_Errors(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	t.Run("UnknownSession", func(t *testing.T) {
		_, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: "01J0000000000000000000000X"})
		if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})
	t.Run("StateTooLarge", func(t *testing.T) {
		t0 := time.Now()
		sess := mustSession(t, s, storage.NewID(t0), t0)
		st := storage.State{Variables: map[string]string{"blob": strings.Repeat("x", storage.MaxStateBytes)}}
		_, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, State: &st})
		if !errors.Is(err, storage.ErrTooLarge) {
			t.Fatalf("got %v, want ErrTooLarge", err)
		}
		if got, _ := s.Session(ctx, sess.ID); len(got.State.Variables) != 0 {
			t.Fatal("an oversized state was stored")
		}
	})
	t.Run("StateUnderTheCap", func(t *testing.T) {
		// Anything under the cap is stored and folded: Badger's limit on
		// a transaction must not refuse it first.
		t0 := time.Now()
		sess := mustSession(t, s, storage.NewID(t0), t0)
		st := storage.State{Variables: map[string]string{"blob": strings.Repeat("x", storage.MaxStateBytes-1024)}}
		if _, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, State: &st}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Session(ctx, sess.ID); err != nil || len(got.State.Variables["blob"]) != storage.MaxStateBytes-1024 {
			t.Fatalf("the state was not stored whole: %v", err)
		}
	})
}

func TestSessions_LatestAndReopen(t *testing.T) {
	s, dir := MustOpen(t)
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	vid := storage.NewID(t0)
	mustSession(t, s, vid, t0)
	second := mustSession(t, s, vid, t0.Add(time.Hour))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.LatestSession(ctx, vid)
	if err != nil || got.ID != second.ID {
		t.Fatalf("latest = %v, %v; want %s", got, err, second.ID)
	}
	ids, _ := s2.VisitorSessionIDs(ctx, vid)
	if len(ids) != 2 {
		t.Fatalf("visitor has %d sessions, want 2", len(ids))
	}
	if _, err := s2.LatestSession(ctx, "nobody"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("latest of nobody: %v, want ErrNotFound", err)
	}
}

// TestRecordTurn_Owners: each live session's owner records its turns on its
// own copy (Turn.Prev), reading nothing; two sessions of one visitor then
// write the visitor's rollups side by side, and neither overwrites the
// other's.
func TestRecordTurn_Owners(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	vid := storage.NewID(t0)
	a := mustSession(t, s, vid, t0)
	b := mustSession(t, s, vid, t0.Add(time.Second))
	msg := func(at time.Time, text string) []storage.Message {
		return []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: at, Text: text}}
	}
	input := func(at time.Time, kind, variable, value string) []storage.Input {
		return []storage.Input{{Variable: variable, Kind: kind, Value: value, At: at}}
	}
	ownA, ownB := a, b
	var err error
	for i := 0; i < 3; i++ {
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
	// The stored records are what the owners hold.
	for _, own := range []*storage.Session{ownA, ownB} {
		got, err := s.Session(ctx, own.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.MessageCount != own.MessageCount || !got.LastActivityAt.Equal(own.LastActivityAt) || len(got.Inputs) != len(own.Inputs) || got.LastMessageID != own.LastMessageID {
			t.Fatalf("stored session %+v, owner holds %+v", got, own)
		}
	}
	assertSound(t, s)
}

// TestStore_Scan: Scan reads the keys under a prefix, in order, with their
// values, and stops at the first error of fn.
func TestStore_Scan(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := mustSession(t, s, "01HV0000000000000000000000", at)
	b := mustSession(t, s, "01HV0000000000000000000001", at.Add(time.Minute))
	var keys []string
	err := s.Scan(ctx, "s/", func(k string, v []byte) error {
		keys = append(keys, k)
		if !strings.Contains(string(v), `"id":"`+k[len("s/"):]+`"`) {
			t.Errorf("%s: value %s is not its session", k, v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"s/" + a.ID, "s/" + b.ID}; strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Errorf("keys under s/ = %v, want %v", keys, want)
	}
	stop := errors.New("stop")
	n := 0
	err = s.Scan(ctx, "", func(string, []byte) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("Scan with a failing fn = %v after %d keys, want stop after 1", err, n)
	}
	if err := s.Scan(ctx, "nothing/", func(k string, _ []byte) error { t.Errorf("key %s under nothing/", k); return nil }); err != nil {
		t.Fatal(err)
	}
}
