package storage_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/parley-chat/parley/storage"
)

const day = 24 * time.Hour

// usageKeys returns the usage counters: retention must leave them be.
func usageKeys(all map[string][]byte) map[string]string {
	u := map[string]string{}
	for k, v := range all {
		if strings.HasPrefix(k, "u/") {
			u[k] = string(v)
		}
	}
	return u
}

func TestSweepRetention(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	now := lcDay.Add(100 * day)
	// Each visitor's last activity is its last session's start plus 5 s.
	old := lcSeed(t, s, "demo", now.Add(-40*day), "Old", "old@example.org", 2, true)
	recent := lcSeed(t, s, "demo", now.Add(-5*day), "Recent", "recent@example.org", 1, true)
	forever := lcSeed(t, s, "archive", now.Add(-90*day), "Kept", "kept@example.org", 1, false)
	unknown := lcSeed(t, s, "gone-site", now.Add(-90*day), "Orphan", "orphan@example.org", 1, false)
	short := lcSeed(t, s, "short", now.Add(-36*time.Hour), "Brief", "brief@example.org", 1, false)
	r := storage.Retention{Sites: map[string]time.Duration{"demo": 30 * day, "archive": 0, "short": day}}
	before := dumpStore(t, s)

	res, err := s.SweepRetention(ctx, now, r)
	if err != nil {
		t.Fatal(err)
	}
	if res.Visitors != 2 || res.Sessions != 3 || res.Files != 2 {
		t.Errorf("sweep: %+v, want 2 visitors, 3 sessions, 2 files", res)
	}
	for _, v := range []lcVisitor{old, short} {
		assertGone(t, s, v, nil)
	}
	for _, v := range []lcVisitor{recent, forever, unknown} {
		if _, err := s.Visitor(ctx, v.ID); err != nil {
			t.Errorf("visitor of %s: %v; want it kept", v.Site, err)
		}
	}
	assertNotInViews(t, s, old, "old@example.org")
	assertSound(t, s)
	after := dumpStore(t, s)
	if got, want := usageKeys(after), usageKeys(before); len(want) == 0 || !equalMaps(got, want) {
		t.Errorf("usage counters changed: %v, want %v", got, want)
	}

	t.Run("NothingMore", func(t *testing.T) {
		res, err := s.SweepRetention(ctx, now, r)
		if err != nil || res != (storage.SweepResult{}) {
			t.Errorf("second sweep: %+v, %v; want nothing", res, err)
		}
	})
	t.Run("ClockMovesOn", func(t *testing.T) {
		res, err := s.SweepRetention(ctx, now.Add(26*day), r)
		if err != nil || res.Visitors != 1 {
			t.Fatalf("sweep 26 days later: %+v, %v; want the recent visitor erased", res, err)
		}
		assertGone(t, s, recent, nil)
		assertSound(t, s)
	})
	t.Run("ActivityKeeps", func(t *testing.T) {
		back := lcSeed(t, s, "demo", now.Add(-60*day), "Back", "back@example.org", 1, false)
		// A turn yesterday moves the visitor's retention entry.
		_, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: back.Sessions[0], Touch: now.Add(-day)})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := s.SweepRetention(ctx, now, r); err != nil || res.Visitors != 0 {
			t.Errorf("sweep: %+v, %v; want the returning visitor kept", res, err)
		}
		if _, err := s.Visitor(ctx, back.ID); err != nil {
			t.Error(err)
		}
		assertSound(t, s)
	})
	t.Run("Default", func(t *testing.T) {
		res, err := s.SweepRetention(ctx, now, storage.Retention{Default: 30 * day, Sites: map[string]time.Duration{"archive": 0}})
		if err != nil || res.Visitors != 1 {
			t.Fatalf("sweep with a default: %+v, %v; want the unconfigured site's visitor erased", res, err)
		}
		assertGone(t, s, unknown, nil)
	})
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestSweepRetention_StaleEntry: a bulk load over an existing visitor
// leaves its old retention entry behind; the sweep drops that entry and
// keeps the visitor.
func TestSweepRetention_StaleEntry(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	now := lcDay.Add(100 * day)
	v := lcSeed(t, s, "demo", now.Add(-50*day), "Stale", "stale@example.org", 1, false)
	stored, err := s.Visitor(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	b := s.NewBulk()
	stored.LastSeenAt = now.Add(-time.Hour)
	sess := &storage.Session{ID: storage.NewID(now.Add(-time.Hour)), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: now.Add(-time.Hour)}
	if err := b.Add(stored, []storage.BulkSession{{Session: sess}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := s.SweepRetention(ctx, now, storage.Retention{Default: 30 * day})
	if err != nil || res.Visitors != 0 || res.Stale != 1 {
		t.Errorf("sweep: %+v, %v; want one stale entry dropped, nobody erased", res, err)
	}
	if _, err := s.Visitor(ctx, v.ID); err != nil {
		t.Errorf("visitor: %v", err)
	}
}

// TestBuildSeenIndex: a store written before the retention index existed
// gets it once, and is swept like any other.
func TestBuildSeenIndex(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	now := lcDay.Add(100 * day)
	old := lcSeed(t, s, "demo", now.Add(-40*day), "Old", "old@example.org", 1, false)
	lcSeed(t, s, "demo", now.Add(-day), "New", "new@example.org", 1, false)
	// Forget the index, as a store from before it.
	err := s.DB().Update(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("vl/")})
		var keys [][]byte
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		it.Close()
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.BuildSeenIndex(ctx)
	if err != nil || n != 2 {
		t.Fatalf("build: %d, %v; want 2 visitors indexed", n, err)
	}
	if n, err := s.BuildSeenIndex(ctx); err != nil || n != 0 {
		t.Errorf("second build: %d, %v; want nothing to do", n, err)
	}
	assertSound(t, s)
	if res, err := s.SweepRetention(ctx, now, storage.Retention{Default: 30 * day}); err != nil || res.Visitors != 1 {
		t.Errorf("sweep: %+v, %v", res, err)
	}
	assertGone(t, s, old, nil)
}

// TestCollectGarbage reclaims nothing on a fresh store and fails on none.
func TestCollectGarbage_Erased(t *testing.T) {
	s, _ := MustOpen(t)
	ctx := context.Background()
	v := lcSeed(t, s, "demo", lcDay, "Big", "big@example.org", 3, true)
	if _, err := s.EraseVisitor(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	if all := dumpStore(t, s); len(all) == 0 {
		t.Log("empty store after erase")
	} else {
		for k, val := range all {
			if !strings.HasPrefix(k, "u/") && !strings.HasPrefix(k, "meta/") && !bytes.HasPrefix([]byte(k), []byte("!badger!")) {
				t.Errorf("key %q (%d bytes) left", k, len(val))
			}
		}
	}
}
