package storage

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// dieWithoutFolding closes Badger under the store as a killed process
// leaves it: committed turns not folded, nothing flushed by the indexer.
func dieWithoutFolding(t *testing.T, s *Store) {
	t.Helper()
	s.commits.close()
	close(s.idx.stop)
	<-s.idx.done
	stopCounting(s)
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
}

// stopCounting stops the count of new sessions (startcount.go) without
// counting what is pending: their marks wait for a settle, or a crash.
func stopCounting(s *Store) {
	select {
	case <-s.counts.done:
	default:
		close(s.counts.stop)
		<-s.counts.done
	}
}

// recordTurns records n text turns with an input each in every one of
// owners, the sessions side by side, and returns the owners' last copies.
func recordTurns(t *testing.T, s *Store, owners []*Session, n int, t0 time.Time) []*Session {
	t.Helper()
	var wg sync.WaitGroup
	for i := range owners {
		wg.Go(func() {
			for j := range n {
				cid := fmt.Sprintf("c%d", j)
				turn := textTurn(owners[i], cid, t0.Add(time.Duration(j)*time.Millisecond))
				if inputEvery(j, n) {
					turn.Inputs = []Input{{Block: "b", Variable: "email", Kind: "email", Value: fmt.Sprintf("v%d-%d@example.org", i, j), At: turn.Messages[0].At}}
				}
				next, _, _, err := s.RecordTurn(context.Background(), turn)
				if err != nil {
					t.Error(err)
					return
				}
				owners[i] = next
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return owners
}

// inputEvery says whether turn j of n gives an input: every 50th and the
// last, so the records stay small however many turns there are.
func inputEvery(j, n int) bool { return j%50 == 0 || j == n-1 }

func inputsOf(n int) int { return (n-1)/50 + 1 + min(1, (n-1)%50) }

// checkFolded checks that every turn of owners[first:] is in the records
// exactly once and nothing is left pending.
func checkFolded(t *testing.T, s *Store, owners []*Session, first, n int) {
	t.Helper()
	for i, own := range owners {
		if i < first {
			continue
		}
		got, err := s.Session(context.Background(), own.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.MessageCount != 2*n || len(got.Inputs) != inputsOf(n) {
			t.Fatalf("session %d: %d messages and %d inputs, want %d and %d", i, got.MessageCount, len(got.Inputs), 2*n, inputsOf(n))
		}
		v, err := s.Visitor(context.Background(), got.VisitorID)
		if want := fmt.Sprintf("v%d-%d@example.org", i, n-1); err != nil || v.Email != want {
			t.Fatalf("visitor %d: email %q (%v), want %q", i, v.Email, err, want)
		}
	}
	if k := countKeys(t, s, "d/"); k != 0 {
		t.Fatalf("%d delta keys or fold marks left", k)
	}
	rep, err := s.Verify(context.Background())
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("verify: %v %v", rep.Problems, err)
	}
}

// TestFold_MoreTurnsThanATransactionHolds: the turns one fold takes may be
// far more than Badger lets one transaction delete (a busy store, or the
// backlog a crash left). Folding them, live and at recovery, must neither
// fail nor leave them pending for ever.
func TestFold_MoreTurnsThanATransactionHolds(t *testing.T) {
	// 1 MiB memtables: Badger takes about 1,600 entries in one transaction.
	const sessions, turns = 8, 400
	opts := Options{IndexDelay: time.Hour, memTableSize: 1 << 20}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	t.Run("Live", func(t *testing.T) {
		s, err := Open(t.TempDir(), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		owners := recordTurns(t, s, ownedSessions(t, s, sessions, t0), turns, t0)
		// The indexer's periodic fold takes every session at once.
		if err := s.idx.fold(context.Background()); err != nil {
			t.Fatal(err)
		}
		checkFolded(t, s, owners, 0, turns)
	})
	t.Run("Recovery", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		owners := recordTurns(t, s, ownedSessions(t, s, sessions, t0), turns, t0)
		dieWithoutFolding(t, s)
		if s, err = Open(dir, Options{memTableSize: opts.memTableSize}); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		checkFolded(t, s, owners, 0, turns)
	})
}

// TestFold_CrashBetweenItsSteps: a process killed after a fold wrote the
// records and before it deleted the deltas leaves deltas that are folded
// already; recovery deletes them without applying them a second time (an
// input counted twice), and folds the turns that came after.
func TestFold_CrashBetweenItsSteps(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{IndexDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	owners := recordTurns(t, s, ownedSessions(t, s, 3, t0), 5, t0)

	// The fold's first step only.
	s.idx.mu.Lock()
	var pending []*pendingFold
	for sid, p := range s.idx.pending {
		pending = append(pending, p)
		delete(s.idx.pending, sid)
	}
	s.idx.mu.Unlock()
	if _, err := s.foldSessions(context.Background(), pending); err != nil {
		t.Fatal(err)
	}
	// One more turn in one session, then the crash.
	turn := textTurn(owners[0], "c5", t0.Add(time.Minute))
	turn.Inputs = []Input{{Block: "b", Variable: "email", Kind: "email", Value: "v0-5@example.org", At: t0.Add(time.Minute)}}
	if owners[0], _, _, err = s.RecordTurn(context.Background(), turn); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, "d/"); n != 3*5+3+1 {
		t.Fatalf("%d delta keys and marks before the crash, want 19", n)
	}
	dieWithoutFolding(t, s)

	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Session(context.Background(), owners[0].ID)
	if err != nil || got.MessageCount != 12 || len(got.Inputs) != inputsOf(5)+1 {
		t.Fatalf("session 0 after the restart: %d messages, %d inputs (%v), want 12 and %d", got.MessageCount, len(got.Inputs), err, inputsOf(5)+1)
	}
	checkFolded(t, s, owners, 1, 5)
}
