package contract

import (
	"context"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// testRetention: a sweep erases the visitors not seen for their site's
// retention, keeps the others, those of sites kept forever, and those of
// a site with no retention of its own unless a default says otherwise.
func testRetention(t *testing.T, e LifecycleEngine) {
	ctx := context.Background()
	now := lcDay.Add(100 * day)
	old := seed(t, e, "demo", now.Add(-40*day), "Old", "old@example.org", 2)
	recent := seed(t, e, "demo", now.Add(-5*day), "Recent", "recent@example.org", 1)
	forever := seed(t, e, "archive", now.Add(-90*day), "Kept", "kept@example.org", 1)
	unknown := seed(t, e, "gone-site", now.Add(-90*day), "Orphan", "orphan@example.org", 1)
	short := seed(t, e, "short", now.Add(-36*time.Hour), "Brief", "brief@example.org", 1)
	r := storage.Retention{Sites: map[string]time.Duration{"demo": 30 * day, "archive": 0, "short": day}}

	res, err := e.SweepRetention(ctx, now, r)
	if err != nil {
		t.Fatal(err)
	}
	if files := len(old.Files) + len(short.Files); res.Visitors != 2 || res.Sessions != 3 || res.Files != files {
		t.Errorf("sweep: %+v, want 2 visitors, 3 sessions, %d files", res, files)
	}
	for _, v := range []seeded{old, short} {
		assertGone(t, e, v, nil)
	}
	for _, v := range []seeded{recent, forever, unknown} {
		assertKept(t, e, v)
	}

	t.Run("NothingMore", func(t *testing.T) {
		res, err := e.SweepRetention(ctx, now, r)
		if err != nil || res != (storage.SweepResult{}) {
			t.Errorf("second sweep: %+v, %v; want nothing", res, err)
		}
	})
	t.Run("NoRetention", func(t *testing.T) {
		for _, r := range []storage.Retention{{}, {Default: -day}, {Sites: map[string]time.Duration{"demo": -day}}} {
			res, err := e.SweepRetention(ctx, now.Add(1000*day), r)
			if err != nil || res != (storage.SweepResult{}) {
				t.Errorf("sweep with %+v: %+v, %v; want nothing erased", r, res, err)
			}
		}
	})
	t.Run("ClockMovesOn", func(t *testing.T) {
		res, err := e.SweepRetention(ctx, now.Add(26*day), r)
		if err != nil || res.Visitors != 1 {
			t.Fatalf("sweep 26 days later: %+v, %v; want the recent visitor erased", res, err)
		}
		assertGone(t, e, recent, nil)
	})
	t.Run("Default", func(t *testing.T) {
		res, err := e.SweepRetention(ctx, now, storage.Retention{Default: 30 * day, Sites: map[string]time.Duration{"archive": 0}})
		if err != nil || res.Visitors != 1 {
			t.Fatalf("sweep with a default: %+v, %v; want the unconfigured site's visitor erased", res, err)
		}
		assertGone(t, e, unknown, nil)
		assertKept(t, e, forever)
	})
	t.Run("Cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := e.SweepRetention(ctx, now.Add(1000*day), storage.Retention{Default: day}); err == nil {
			t.Error("a cancelled sweep: no error")
		}
	})
}

// testRetentionActivityKeeps: a turn moves the visitor's last-seen time,
// and a sweep keeps it.
func testRetentionActivityKeeps(t *testing.T, e LifecycleEngine) {
	ctx := context.Background()
	now := lcDay.Add(100 * day)
	back := seed(t, e, "demo", now.Add(-60*day), "Back", "back@example.org", 1)
	if _, _, _, err := e.RecordTurn(ctx, &storage.Turn{SessionID: back.Sessions[0], Touch: now.Add(-day)}); err != nil {
		t.Fatal(err)
	}
	if res, err := e.SweepRetention(ctx, now, storage.Retention{Default: 30 * day}); err != nil || res.Visitors != 0 {
		t.Errorf("sweep: %+v, %v; want the returning visitor kept", res, err)
	}
	assertKept(t, e, back)
}
