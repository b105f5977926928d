package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// ownedSessions starts n sessions, each of its own visitor, and returns
// them as their owners hold them.
func ownedSessions(tb testing.TB, s *Store, n int, t0 time.Time) []*Session {
	tb.Helper()
	out := make([]*Session, n)
	for i := range out {
		v := &Visitor{ID: NewID(t0), Site: "demo", Channel: "web", CreatedAt: t0}
		sess := &Session{ID: NewID(t0), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: t0}
		if err := s.CreateSession(context.Background(), v, sess); err != nil {
			tb.Fatal(err)
		}
		out[i] = sess
	}
	return out
}

func textTurn(sess *Session, cid string, at time.Time) *Turn {
	return &Turn{SessionID: sess.ID, ClientID: cid, Prev: sess, Messages: []Message{
		{From: FromVisitor, Kind: KindText, At: at, Text: "hi " + cid, ClientID: cid},
		{From: FromBot, Kind: KindBot, At: at, Text: "hello"},
	}}
}

// TestRecordTurn_GroupCommit: concurrent turns of many sessions are
// committed together, fewer batches than turns, and every acked turn is
// stored and folded into exact records.
func TestRecordTurn_GroupCommit(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	owners := ownedSessions(t, s, 64, t0)
	const turns = 20
	before := s.commits.batches.Load()
	var wg sync.WaitGroup
	for i := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < turns; n++ {
				next, ack, _, err := s.RecordTurn(context.Background(), textTurn(owners[i], fmt.Sprintf("c%d", n), t0.Add(time.Duration(n)*time.Second)))
				if err != nil || ack.ID == "" {
					t.Errorf("turn: %+v, %v", ack, err)
					return
				}
				owners[i] = next
			}
		}()
	}
	wg.Wait()
	batches := s.commits.batches.Load() - before
	if total := int64(len(owners) * turns); batches >= total {
		t.Errorf("%d turns took %d batches: no group commit", total, batches)
	}
	t.Logf("%d turns in %d batches", len(owners)*turns, batches)
	for _, own := range owners {
		got, err := s.Session(context.Background(), own.ID)
		if err != nil || got.MessageCount != 2*turns || got.LastMessageID != own.LastMessageID {
			t.Fatalf("session %s: %+v, %v; want %d messages", own.ID, got, err, 2*turns)
		}
	}
	rep, err := s.Verify(context.Background())
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("verify: %v %v", rep.Problems, err)
	}
}

// TestRecordTurn_FailedBatch: a batch that fails to commit fails every turn
// in it and leaves nothing of them; the owners keep their copies and the
// same turns go through afterwards.
func TestRecordTurn_FailedBatch(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	owners := ownedSessions(t, s, 16, t0)
	failing := errors.New("disk on fire")
	commitHook = func() error { return failing }
	defer func() { commitHook = nil }()
	var wg sync.WaitGroup
	for i := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, _, err := s.RecordTurn(context.Background(), textTurn(owners[i], "c1", t0.Add(time.Second))); !errors.Is(err, failing) {
				t.Errorf("turn in a failed batch: %v, want the batch's error", err)
			}
		}()
	}
	wg.Wait()
	for _, p := range []string{"m/", "c/", "d/"} {
		if n := countKeys(t, s, p); n != 0 {
			t.Errorf("%d %s keys after the failed batch, want none", n, p)
		}
	}
	commitHook = nil
	for i, own := range owners {
		next, _, _, err := s.RecordTurn(context.Background(), textTurn(own, "c1", t0.Add(time.Second)))
		if err != nil || next.MessageCount != 2 {
			t.Fatalf("owner %d after the failure: %+v, %v", i, next, err)
		}
	}
	if n := countKeys(t, s, "m/"); n != 2*len(owners) {
		t.Errorf("%d messages, want %d", n, 2*len(owners))
	}
}

func countKeys(tb testing.TB, s *Store, prefix string) int {
	tb.Helper()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if strings.HasPrefix(string(it.Item().Key()), prefix) {
				n++
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestRecordTurn_CrashFolds: turns committed but not yet folded into their
// records (the process died first) are folded when the store opens again.
func TestRecordTurn_CrashFolds(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{IndexDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	owners := ownedSessions(t, s, 3, t0)
	for i, own := range owners {
		turn := textTurn(own, "c1", t0.Add(time.Second))
		turn.Inputs = []Input{{Block: "b", Variable: "email", Kind: "email", Value: fmt.Sprintf("v%d@example.org", i), At: t0.Add(time.Second)}}
		if owners[i], _, _, err = s.RecordTurn(context.Background(), turn); err != nil {
			t.Fatal(err)
		}
	}
	if n := countKeys(t, s, "d/"); n != 3 {
		t.Fatalf("%d pending turns, want 3", n)
	}
	dieWithoutFolding(t, s)

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := countKeys(t, s, "d/"); n != 0 {
		t.Fatalf("%d turns still pending after the restart", n)
	}
	for i, own := range owners {
		got, err := s.Session(context.Background(), own.ID)
		if err != nil || got.MessageCount != 2 || len(got.Inputs) != 1 {
			t.Fatalf("session after the restart: %+v, %v", got, err)
		}
		v, err := s.Visitor(context.Background(), got.VisitorID)
		if err != nil || v.Email != fmt.Sprintf("v%d@example.org", i) {
			t.Fatalf("visitor after the restart: %+v, %v", v, err)
		}
	}
	rep, err := s.Verify(context.Background())
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("verify: %v %v", rep.Problems, err)
	}
}
