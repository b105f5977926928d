package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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

// TestStartSession_GroupCommit: new sessions are group-committed, many to
// a transaction, in a committer apart from the turns' (a turn's ack never
// waits for one); the sessions of one batch read each other's writes (the
// visitor's record, the usage counters), and a session refused in a batch
// fails alone.
func TestStartSession_GroupCommit(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	owners := ownedSessions(t, s, 4, t0)
	newSession := func(visitor string, at time.Time) *Session {
		return &Session{ID: NewID(at), Site: "demo", VisitorID: visitor, Bot: "demo", Version: "1", Channel: "web", StartedAt: at}
	}

	// Hold the sessions' committer in a batch, so that the starts below
	// queue behind it and commit in the next.
	holding, release := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	commitHook = func() error {
		if held.CompareAndSwap(false, true) {
			close(holding)
			<-release
		}
		return nil
	}
	defer func() { commitHook = nil }()
	go func() {
		v := &Visitor{ID: NewID(t0), Site: "demo", Channel: "web", CreatedAt: t0}
		s.StartSession(ctx, v, newSession(v.ID, t0), nil)
	}()
	<-holding
	before := s.starts.batches.Load()

	const visitors, each = 16, 3
	var wg sync.WaitGroup
	started := make([][]*Session, visitors)
	for i := range visitors {
		v := Visitor{ID: NewID(t0), Site: "demo", Channel: "web", CreatedAt: t0}
		started[i] = make([]*Session, each)
		for j := range each {
			at := t0.Add(time.Duration(j+1) * time.Minute)
			started[i][j] = newSession(v.ID, at)
			wg.Add(1)
			go func() {
				defer wg.Done()
				v := v
				open := &Turn{Messages: []Message{{From: FromBot, Kind: KindBot, At: at, Text: "Hi!"}}}
				if err := s.StartSession(ctx, &v, started[i][j], open); err != nil {
					t.Errorf("start %d/%d: %v", i, j, err)
				}
			}()
		}
	}
	tooBig := newSession(NewID(t0), t0)
	var bigErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		v := Visitor{ID: tooBig.VisitorID, Site: "demo", Channel: "web", CreatedAt: t0}
		st := State{Variables: map[string]string{"big": strings.Repeat("x", MaxStateBytes)}}
		bigErr = s.StartSession(ctx, &v, tooBig, &Turn{State: &st})
	}()

	// Turns go through while the sessions wait.
	turned := make(chan error)
	go func() {
		for i := 1; i < len(owners); i++ {
			if _, _, _, err := s.RecordTurn(ctx, textTurn(owners[i], "c1", t0.Add(time.Second))); err != nil {
				turned <- err
				return
			}
		}
		turned <- nil
	}()
	select {
	case err := <-turned:
		if err != nil {
			t.Errorf("a turn beside the starts: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("turns waited for the new sessions' batch")
	}

	for deadline := time.Now().Add(10 * time.Second); len(s.starts.reqs) < visitors*each+1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			queued := len(s.starts.reqs)
			close(release)
			wg.Wait()
			t.Fatalf("%d of %d new sessions queued behind the held batch: they did not wait for a group commit", queued, visitors*each+1)
		}
	}
	close(release)
	wg.Wait()

	if !errors.Is(bigErr, ErrTooLarge) {
		t.Errorf("a start past the cap: %v, want ErrTooLarge", bigErr)
	}
	if _, err := s.Session(ctx, tooBig.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the refused session: %v, want ErrNotFound", err)
	}
	if batches := s.starts.batches.Load() - before; batches > 2 {
		t.Errorf("%d new sessions took %d batches, want them together", visitors*each, batches)
	}
	for i := range started {
		v, err := s.Visitor(ctx, started[i][0].VisitorID)
		if err != nil || !v.LastSeenAt.Equal(t0.Add(each*time.Minute)) {
			t.Fatalf("visitor %d: %+v, %v; want last seen at its latest start", i, v, err)
		}
		for _, sess := range started[i] {
			got, err := s.Session(ctx, sess.ID)
			if err != nil || got.MessageCount != 1 {
				t.Fatalf("session %s: %+v, %v; want its opening", sess.ID, got, err)
			}
		}
	}
	rep, err := s.Usage(ctx, UsageQuery{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	if want := int64(len(owners) + 1 + visitors*each); err != nil || rep.Total != want {
		t.Errorf("usage: %+v, %v; want %d sessions", rep, err, want)
	}
	if v, err := s.Verify(ctx); err != nil || len(v.Problems) > 0 {
		t.Fatalf("verify: %v %v", v.Problems, err)
	}
}
