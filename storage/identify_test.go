package storage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

func identifyAs(tb testing.TB, s *storage.Store, visitorID, user string, at time.Time) *storage.IdentifyResult {
	tb.Helper()
	res, err := s.Identify(context.Background(), storage.IdentifyRequest{Site: "demo", VisitorID: visitorID, UserID: user,
		Channel: "web", Profile: storage.ProfileEdit{By: storage.ByIdentify, At: at}})
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

func TestIdentify_Merge(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	var hooked []string
	s.OnMerge(func(from, into string, sessions []string) { hooked = append([]string{from, into}, sessions...) })
	home := lcSeed(t, s, "demo", lcDay, "Ada", "ada@example.org", 2, true)
	work := lcSeed(t, s, "demo", lcDay.Add(48*time.Hour), "Ada L", "ada@work.example", 1, true)

	res := identifyAs(t, s, home.ID, "crm-42", lcDay.Add(72*time.Hour))
	if res.VisitorID != home.ID || res.Merged != "" {
		t.Fatalf("first browser: %+v, want it to keep its visitor", res)
	}
	res = identifyAs(t, s, work.ID, "crm-42", lcDay.Add(73*time.Hour))
	if res.VisitorID != home.ID || res.Merged != work.ID || !slices.Equal(res.Sessions, work.Sessions) {
		t.Fatalf("second browser: %+v, want %s merged into %s with %v", res, work.ID, home.ID, work.Sessions)
	}
	if want := append([]string{work.ID, home.ID}, work.Sessions...); !slices.Equal(hooked, want) {
		t.Errorf("OnMerge got %v, want %v", hooked, want)
	}
	v, err := s.Visitor(ctx, home.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The work browser's inputs were the later ones: they win.
	if v.PlatformID != "crm-42" || v.Email != "ada@work.example" || v.Name != "Ada L" || !v.CreatedAt.Equal(lcDay) {
		t.Errorf("merged visitor %+v", v)
	}
	if _, err := s.Visitor(ctx, work.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("merged-away visitor: %v, want ErrNotFound", err)
	}
	if into, err := s.MergedInto(ctx, work.ID); err != nil || into != home.ID {
		t.Errorf("MergedInto: %q %v", into, err)
	}
	files, err := s.VisitorFiles(ctx, home.ID)
	if err != nil || len(files) != 3 {
		t.Fatalf("files after merge: %d %v, want 3", len(files), err)
	}
	for _, f := range files {
		if f.VisitorID != home.ID {
			t.Errorf("file %s still names visitor %s", f.ID, f.VisitorID)
		}
	}
	sids, _ := s.VisitorSessionIDs(ctx, home.ID)
	if len(sids) != 3 {
		t.Errorf("sessions after merge: %v", sids)
	}
	for _, q := range []string{"crm-42", "ada@work", "ada l"} {
		p, err := s.Users(ctx, storage.UserQuery{Q: q})
		if err != nil || len(p.Items) != 1 || p.Items[0].Visitor.ID != home.ID {
			t.Errorf("search %q: %+v %v, want only %s", q, p, err, home.ID)
		}
	}
	changes, err := s.ProfileChanges(ctx, home.ID, 0)
	if err != nil || len(changes) != 2 || changes[0].Field != "merged" || changes[0].From != work.ID || changes[1].Field != "platformId" {
		t.Errorf("audit: %+v %v, want the merge then the platform ID", changes, err)
	}
	assertSound(t, s)

	t.Run("StartAsMerged", func(t *testing.T) {
		v := &storage.Visitor{ID: work.ID, Site: "demo", Channel: "web", CreatedAt: lcDay}
		sess := &storage.Session{ID: storage.NewID(lcDay.Add(80 * time.Hour)), Site: "demo", VisitorID: work.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: lcDay.Add(80 * time.Hour)}
		if err := s.CreateSession(ctx, v, sess); !errors.Is(err, storage.ErrMerged) {
			t.Errorf("a session for the merged visitor: %v, want ErrMerged", err)
		}
	})
	t.Run("Again", func(t *testing.T) {
		res := identifyAs(t, s, home.ID, "crm-42", lcDay.Add(90*time.Hour))
		if res.VisitorID != home.ID || res.Merged != "" {
			t.Errorf("identify again: %+v", res)
		}
	})
	t.Run("Erase", func(t *testing.T) {
		if _, err := s.EraseVisitor(ctx, home.ID); err != nil {
			t.Fatal(err)
		}
		for k := range dumpStore(t, s) {
			for _, p := range []string{"pu/", "vm/", "vma/", "vp/"} {
				if strings.HasPrefix(k, p) {
					t.Errorf("key %q left after the erase", k)
				}
			}
		}
		assertSound(t, s)
	})
}

// TestEditProfile_Search: an edited profile is found by its new values in
// the users overview at once, not by the old (the edit itself: the
// contract suite's people tests).
func TestEditProfile_Search(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	v := lcSeed(t, s, "demo", lcDay, "Ada", "ada@example.org", 1, false)
	str := func(s string) *string { return &s }
	at := lcDay.Add(24 * time.Hour)
	if _, err := s.EditProfile(ctx, v.ID, storage.ProfileEdit{Name: str("Ada Lovelace"), Email: str("ada@lovelace.example"),
		Notes: str("VIP"), By: "admin", At: at}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"lovelace", "ada@lovelace.example"} {
		p, err := s.Users(ctx, storage.UserQuery{Q: q})
		if err != nil || len(p.Items) != 1 || p.Items[0].Visitor.Label() != "ada@lovelace.example" {
			t.Errorf("search %q after edit: %+v %v", q, p, err)
		}
	}
	if p, _ := s.Users(ctx, storage.UserQuery{Q: "ada@example.org"}); len(p.Items) != 0 {
		t.Errorf("the old email still finds the visitor")
	}
	assertSound(t, s)
}

// TestIdentify_MergeUnderLiveTurns merges a visitor while its session's
// owner keeps recording turns (each from the session as the last turn
// returned it, as the gateway's owner does); OnMerge re-points the owner
// as the gateway does. Every turn lands, counted to the user's visitor.
func TestIdentify_MergeUnderLiveTurns(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	home := lcSeed(t, s, "demo", lcDay, "Ada", "ada@example.org", 1, false)
	identifyAs(t, s, home.ID, "crm-live", lcDay.Add(time.Hour))
	work := lcSeed(t, s, "demo", lcDay.Add(2*time.Hour), "Ada", "ada@work.example", 1, false)

	var mu sync.Mutex // the owner's lock
	sess, err := s.Session(ctx, work.Sessions[0])
	if err != nil {
		t.Fatal(err)
	}
	s.OnMerge(func(from, into string, sessions []string) {
		mu.Lock()
		sess.VisitorID = into
		mu.Unlock()
	})
	var n atomic.Int64 // turns recorded
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		at := lcDay.Add(3 * time.Hour)
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			mu.Lock()
			next, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, Prev: sess, ClientID: fmt.Sprintf("t%d", i),
				Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: at.Add(time.Duration(i) * time.Second), Text: fmt.Sprintf("turn %d", i), ClientID: fmt.Sprintf("t%d", i)}}})
			if err == nil {
				sess = next
			}
			mu.Unlock()
			if err != nil {
				done <- err
				return
			}
			n.Add(1)
		}
	}()
	waitTurns := func(min int64) {
		for deadline := time.Now().Add(10 * time.Second); n.Load() < min; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d turns recorded, want %d", n.Load(), min)
			}
		}
	}
	waitTurns(20)
	if res := identifyAs(t, s, work.ID, "crm-live", lcDay.Add(4*time.Hour)); res.Merged != work.ID {
		t.Fatalf("merge: %+v", res)
	}
	waitTurns(n.Load() + 20) // turns after the merge too
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	turns := int(n.Load())
	v, err := s.Visitor(ctx, home.ID)
	if err != nil || v.LastMessage != fmt.Sprintf("turn %d", turns-1) {
		t.Errorf("user's visitor after the turns: last message %q, %v", v.LastMessage, err)
	}
	got, err := s.Session(ctx, sess.ID)
	msgs, _ := s.Messages(ctx, sess.ID, 0)
	if err != nil || got.VisitorID != home.ID || got.MessageCount != len(msgs) {
		t.Errorf("session after the turns: visitor %s, %d messages counted, %d stored, %v", got.VisitorID, got.MessageCount, len(msgs), err)
	}
	r := assertSound(t, s)
	if r.Visitors != 1 || r.Sessions != 2 {
		t.Errorf("verify: %d visitors, %d sessions; want 1, 2", r.Visitors, r.Sessions)
	}
}
