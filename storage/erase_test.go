package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/storagetest"
)

// lcVisitor is a visitor seeded by lcSeed, with every ID it owns.
type lcVisitor struct {
	ID       string
	Site     string
	Sessions []string
	Files    []string
}

// ids lists every ID that no key or value may mention once it is erased.
func (v lcVisitor) ids() []string {
	return append(append([]string{v.ID}, v.Sessions...), v.Files...)
}

// lcSeed records a visitor of site with n sessions through the write path
// the gateway uses: each session gets a choice, a name, an email and a
// phone input, tags, a goal, and (withFile) an uploaded file of 600 KB, so
// every kind of key and index entry exists. The first session starts at t0,
// the others an hour apart.
func lcSeed(tb testing.TB, s *storage.Store, site string, t0 time.Time, name, email string, n int, withFile bool) lcVisitor {
	tb.Helper()
	ctx := context.Background()
	fs := storage.NewFiles(s)
	out := lcVisitor{ID: storage.NewID(t0), Site: site}
	for i := 0; i < n; i++ {
		at := t0.Add(time.Duration(i) * time.Hour)
		v := &storage.Visitor{ID: out.ID, Site: site, Channel: "web", CreatedAt: t0, LastSeenAt: at,
			Device: storage.Device{OS: "Linux", Browser: "Firefox 121"}}
		sess := &storage.Session{ID: storage.NewID(at), Site: site, VisitorID: out.ID, Bot: "demo", Version: "1", Channel: "web",
			Device: v.Device, Page: "https://example.org/p?v=" + out.ID, StartedAt: at}
		if err := s.CreateSession(ctx, v, sess); err != nil {
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
			_, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, ClientID: clientID, Messages: msgs, Inputs: inputs, State: &st})
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
			if err := fs.Put(ctx, f, bytes.NewReader(bytes.Repeat([]byte(out.ID), 600_000/26)), storage.Quota{}); err != nil {
				tb.Fatal(err)
			}
			ref := f.Ref()
			turn("", 5*time.Second, []storage.Message{{From: storage.FromVisitor, Kind: storage.KindFile, Text: f.Name, File: &ref}}, nil, st)
			out.Files = append(out.Files, f.ID)
		}
	}
	return out
}

// dumpStore returns every key of the store with its value.
func dumpStore(tb testing.TB, s *storage.Store) map[string][]byte {
	tb.Helper()
	return storagetest.Dump(tb, s, "")
}

// mentions returns the first of ids that k or v contains.
func mentions(k string, v []byte, ids []string) string {
	for _, id := range ids {
		if strings.Contains(k, id) || bytes.Contains(v, []byte(id)) {
			return id
		}
	}
	return ""
}

// assertGone scans the whole store for keys and values that mention the
// visitor, and checks that every other key is as it was in before.
func assertGone(tb testing.TB, s *storage.Store, gone lcVisitor, before map[string][]byte) {
	tb.Helper()
	after := dumpStore(tb, s)
	// The funnel's counters count everyone's sessions: an erase takes its
	// sessions off and gathers the counters' shards (funnel_counts.go);
	// Verify checks their counts.
	counter := func(k string) bool { return strings.HasPrefix(k, "uf/") || strings.HasPrefix(k, "uh/") }
	for k, v := range after {
		if id := mentions(k, v, gone.ids()); id != "" {
			tb.Errorf("key %q (value %.80q) still mentions %s", k, v, id)
		}
		if counter(k) {
			continue
		}
		if old, ok := before[k]; before != nil && !ok {
			tb.Errorf("key %q appeared", k)
		} else if before != nil && !bytes.Equal(old, v) {
			tb.Errorf("key %q changed", k)
		}
	}
	for k, v := range before {
		if mentions(k, v, gone.ids()) != "" || counter(k) {
			continue
		}
		if _, ok := after[k]; !ok {
			tb.Errorf("key %q of someone else was deleted", k)
		}
	}
}

// assertSound fails the test if Verify finds any inconsistency.
func assertSound(tb testing.TB, s *storage.Store) *storage.VerifyReport {
	tb.Helper()
	r, err := s.Verify(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range r.Problems {
		tb.Errorf("verify: %s", p)
	}
	return r
}

// assertNotInViews checks that no admin view lists the visitor.
func assertNotInViews(tb testing.TB, s *storage.Store, gone lcVisitor, email string) {
	tb.Helper()
	ctx := context.Background()
	for _, q := range []storage.UserQuery{{}, {Flags: storage.FlagInputs | storage.FlagEngaged | storage.FlagFiles}, {Q: email}, {Q: gone.ID[:10]}, {Q: "ada"}} {
		page, err := s.Users(ctx, q)
		if err != nil {
			tb.Fatal(err)
		}
		for _, row := range page.Items {
			if row.Visitor.ID == gone.ID {
				tb.Errorf("Users(%+v) lists the erased visitor", q)
			}
		}
	}
	page, err := s.Sessions(ctx, storage.SessionQuery{Limit: storage.MaxLimit})
	if err != nil {
		tb.Fatal(err)
	}
	for _, row := range page.Items {
		if row.Session.VisitorID == gone.ID {
			tb.Errorf("Sessions lists session %s of the erased visitor", row.Session.ID)
		}
	}
	vs, err := s.VisitorSessions(ctx, storage.VisitorSessionQuery{VisitorID: gone.ID})
	if err != nil {
		tb.Fatal(err)
	}
	if len(vs.Items) != 0 {
		tb.Errorf("VisitorSessions of the erased visitor: %d sessions", len(vs.Items))
	}
	if _, err := s.Visitor(ctx, gone.ID); !errors.Is(err, storage.ErrNotFound) {
		tb.Errorf("Visitor after erase: %v, want ErrNotFound", err)
	}
	fs := storage.NewFiles(s)
	for _, fid := range gone.Files {
		if _, err := fs.File(ctx, fid); !errors.Is(err, storage.ErrNotFound) {
			tb.Errorf("File %s after erase: %v, want ErrNotFound", fid, err)
		}
	}
}

var lcDay = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestEraseVisitor_Complete(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	// Both are called Ada: their search terms share words.
	gone := lcSeed(t, s, "demo", lcDay, "Ada", "ada@example.org", 3, true)
	kept := lcSeed(t, s, "demo", lcDay.Add(time.Minute), "Ada", "ada.l@example.com", 2, true)
	assertSound(t, s)
	before := dumpStore(t, s)

	res, err := s.EraseVisitor(ctx, gone.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Visitor || res.Sessions != 3 || res.Files != 3 || res.Messages != 3*7 {
		t.Errorf("erase result %+v, want the visitor, 3 sessions, 3 files, 21 messages", res)
	}
	assertGone(t, s, gone, before)
	assertNotInViews(t, s, gone, "ada@example.org")
	r := assertSound(t, s)
	if r.Visitors != 1 || r.Sessions != 2 || r.Files != 2 || r.OrphanChunkFiles != 0 {
		t.Errorf("left %+v, want the other visitor's 1 visitor, 2 sessions, 2 files, no orphans", r)
	}
	// The other Ada is still found by the search.
	page, err := s.Users(ctx, storage.UserQuery{Q: "ada"})
	if err != nil || len(page.Items) != 1 || page.Items[0].Visitor.ID != kept.ID {
		t.Errorf("search for ada after erase: %+v, %v; want only %s", page, err, kept.ID)
	}

	t.Run("Idempotent", func(t *testing.T) {
		res, err := s.EraseVisitor(ctx, gone.ID)
		if err != nil || res.Visitor || res.Sessions != 0 || res.Files != 0 {
			t.Errorf("second erase: %+v, %v; want nothing done, no error", res, err)
		}
		if _, err := s.EraseVisitor(ctx, storage.NewID(lcDay)); err != nil {
			t.Errorf("erase of an unknown visitor: %v", err)
		}
	})
	t.Run("TurnsAfterErase", func(t *testing.T) {
		_, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: gone.Sessions[0], ClientID: "c9",
			Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: lcDay, Text: "hi", ClientID: "c9"}}})
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("turn on an erased session: %v, want ErrNotFound", err)
		}
		assertGone(t, s, gone, nil)
	})
}

func TestVerify_OwnerIndexes(t *testing.T) {
	// Verify reads the visitor's session list (vs/) and file list (vf/)
	// back to their records: an entry under the wrong visitor or naming a
	// record that is gone is reported.
	s, _ := MustOpen(t)
	ada := lcSeed(t, s, "demo", lcDay, "Ada", "ada@example.org", 1, true)
	bob := lcSeed(t, s, "demo", lcDay.Add(time.Minute), "Bob", "bob@example.org", 1, false)
	assertSound(t, s)
	missing := storage.NewID(lcDay)
	err := s.DB().Update(func(txn *badger.Txn) error {
		if err := txn.Set([]byte("vs/"+bob.ID+"/"+ada.Sessions[0]), nil); err != nil {
			return err
		}
		return txn.Set([]byte("vf/"+ada.ID+"/"+missing), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"session belongs to " + ada.ID, missing + `": file:`}
	for _, w := range want {
		if !slices.ContainsFunc(r.Problems, func(p string) bool { return strings.Contains(p, w) }) {
			t.Errorf("no problem mentions %q; problems: %q", w, r.Problems)
		}
	}
	if len(r.Problems) != len(want) {
		t.Errorf("problems %q, want %d", r.Problems, len(want))
	}
}
