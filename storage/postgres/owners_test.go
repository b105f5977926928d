package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestOwners_OneWriterPerSession: two nodes on one database; a session
// belongs to the first that claims it while that node's lease holds, the
// other takes it over only after the lease passed, and the old owner's
// turns are refused from then on (ErrLeaseLost), so the two never both
// write it.
func TestOwners_OneWriterPerSession(t *testing.T) {
	ctx := context.Background()
	url := postgrestest.URL(t)
	a, b := openTest(t, url, Options{}), openTest(t, url, Options{})
	sess := startSessions(t, a, 1)[0]

	const ttl = 500 * time.Millisecond
	idA, err := a.JoinCluster(ctx, "a", ttl)
	if err != nil {
		t.Fatal(err)
	}
	idB, err := b.JoinCluster(ctx, "b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if owner, err := a.ClaimSession(ctx, sess.ID); err != nil || owner != idA {
		t.Fatalf("a's claim: %q, %v; want a", owner, err)
	}
	if owner, err := b.ClaimSession(ctx, sess.ID); err != nil || owner != idA {
		t.Fatalf("b's claim while a lives: %q, %v; want a", owner, err)
	}
	if owner, _ := b.SessionOwner(ctx, sess.ID); owner != idA {
		t.Fatalf("owner %q, want a", owner)
	}
	next, _, _, err := a.RecordTurn(ctx, textTurn(sess, "c1", t0.Add(time.Second)))
	if err != nil {
		t.Fatalf("the owner's turn: %v", err)
	}

	// a stops renewing: once its lease passed, b takes the session over
	// and a can write nothing more.
	time.Sleep(ttl + 100*time.Millisecond)
	if err := a.RenewLease(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("renewing a passed lease: %v, want ErrLeaseLost", err)
	}
	if owner, err := b.ClaimSession(ctx, sess.ID); err != nil || owner != idB {
		t.Fatalf("b's claim after a's lease: %q, %v; want b", owner, err)
	}
	if _, _, _, err := a.RecordTurn(ctx, textTurn(next, "c2", t0.Add(2*time.Second))); !errors.Is(err, ErrLeaseLost) || !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("the old owner's turn: %v, want ErrLeaseLost", err)
	}
	if _, _, _, err := b.RecordTurn(ctx, textTurn(next, "c2", t0.Add(2*time.Second))); err != nil {
		t.Fatalf("the new owner's turn: %v", err)
	}
	msgs, err := b.Messages(ctx, sess.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var cids []string
	for _, m := range msgs {
		if m.ClientID != "" {
			cids = append(cids, m.ClientID)
		}
	}
	if !slices.Equal(cids, []string{"c1", "c2"}) {
		t.Errorf("stored client IDs %v, want [c1 c2] (c2 once, from b)", cids)
	}

	// A dead node's rows go after a grace; the live node's stay.
	if n, err := b.SweepDeadNodes(ctx, 0); err != nil || n != 1 {
		t.Errorf("swept %d dead nodes, %v; want 1", n, err)
	}
	if owned, _ := b.OwnedSessions(ctx); !slices.Equal(owned, []string{sess.ID}) {
		t.Errorf("owned sessions %v, want [%s]", owned, sess.ID)
	}
}

// TestOwners_ReleaseAndLeave: a released session is claimed by the next
// node at once; a node leaving the cluster releases all it owned.
func TestOwners_ReleaseAndLeave(t *testing.T) {
	ctx := context.Background()
	url := postgrestest.URL(t)
	a, b := openTest(t, url, Options{}), openTest(t, url, Options{})
	ss := startSessions(t, a, 2)
	idA, _ := a.JoinCluster(ctx, "a", time.Minute)
	idB, _ := b.JoinCluster(ctx, "b", time.Minute)
	for _, s := range ss {
		if owner, err := a.ClaimSession(ctx, s.ID); err != nil || owner != idA {
			t.Fatalf("claim: %q, %v", owner, err)
		}
	}
	if err := a.ReleaseSessions(ctx, []string{ss[0].ID}); err != nil {
		t.Fatal(err)
	}
	if owner, _ := b.ClaimSession(ctx, ss[0].ID); owner != idB {
		t.Errorf("claim of a released session: %q, want b", owner)
	}
	if owner, _ := b.ClaimSession(ctx, ss[1].ID); owner != idA {
		t.Errorf("claim of a's session: %q, want a", owner)
	}
	if err := a.LeaveCluster(ctx); err != nil {
		t.Fatal(err)
	}
	if owner, _ := b.SessionOwner(ctx, ss[1].ID); owner != "" {
		t.Errorf("owner after a left: %q, want none", owner)
	}
	if owner, _ := b.ClaimSession(ctx, ss[1].ID); owner != idB {
		t.Errorf("claim after a left: %q, want b", owner)
	}
	// A turn still on its way after the node left is refused: the session
	// may be another node's already.
	if _, _, _, err := a.RecordTurn(ctx, textTurn(ss[0], "c1", t0.Add(time.Second))); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("turn after leaving: %v, want ErrLeaseLost", err)
	}
}

// TestOwners_TurnOfAReplacedNode: a process whose lease passed joins
// again as a new node; a turn it made as the old node (the widget sets
// storage.Turn.Node from the ownership it checked) is refused, though the
// new node's lease holds, and the turns beside it in the same commit are
// not.
func TestOwners_TurnOfAReplacedNode(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, postgrestest.URL(t), Options{})
	ss := startSessions(t, s, 2)
	old, err := s.JoinCluster(ctx, "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now, err := s.JoinCluster(ctx, "a", time.Minute) // the old lease passed
	if err != nil {
		t.Fatal(err)
	}
	stale, fresh := textTurn(ss[0], "c1", t0.Add(time.Second)), textTurn(ss[1], "c1", t0.Add(time.Second))
	stale.Node, fresh.Node = old, now
	errs := make(chan error, 2)
	for _, turn := range []*storage.Turn{stale, fresh} {
		go func() {
			_, _, _, err := s.RecordTurn(ctx, turn)
			if turn == stale && !errors.Is(err, ErrLeaseLost) {
				err = fmt.Errorf("the old node's turn: %v, want ErrLeaseLost", err)
			} else if turn == stale {
				err = nil
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM messages WHERE session_id = $1 AND client_id = 'c1'`, ss[0].ID); n != 0 {
		t.Errorf("the old node's turn stored %d messages", n)
	}
	if n := count(t, s, `SELECT count(*) FROM messages WHERE session_id = $1 AND client_id = 'c1'`, ss[1].ID); n != 1 {
		t.Errorf("the new node's turn stored %d messages, want 1", n)
	}
}
