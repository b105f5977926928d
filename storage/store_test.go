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
