package storage_test

import (
	"context"
	"errors"
	"slices"
	"strings"
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
