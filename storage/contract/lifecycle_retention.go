package contract

import (
	"context"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// lcTestRetention: a sweep erases the visitors not seen for their site's
// retention, keeps the others, those of sites kept forever, and those of
// a site with no retention of its own unless a default says otherwise.
func lcTestRetention(t *testing.T, e LifecycleEngine) {
	ctx := context.Background()
	now := lcStart.Add(100 * lcDayLen)
	old := lcSeed(t, e, "demo", now.Add(-40*lcDayLen), "Old", "old@example.org", 2)
	recent := lcSeed(t, e, "demo", now.Add(-5*lcDayLen), "Recent", "recent@example.org", 1)
	forever := lcSeed(t, e, "archive", now.Add(-90*lcDayLen), "Kept", "kept@example.org", 1)
	unknown := lcSeed(t, e, "gone-site", now.Add(-90*lcDayLen), "Orphan", "orphan@example.org", 1)
	short := lcSeed(t, e, "short", now.Add(-36*time.Hour), "Brief", "brief@example.org", 1)
	r := storage.Retention{Sites: map[string]time.Duration{"demo": 30 * lcDayLen, "archive": 0, "short": lcDayLen}}

	res, err := e.SweepRetention(ctx, now, r)
	if err != nil {
		t.Fatal(err)
	}
	if files := len(old.Files) + len(short.Files); res.Visitors != 2 || res.Sessions != 3 || res.Files != files {
		t.Errorf("sweep: %+v, want 2 visitors, 3 sessions, %d files", res, files)
	}
	for _, v := range []lcSeeded{old, short} {
		lcAssertGone(t, e, v, nil)
	}
	for _, v := range []lcSeeded{recent, forever, unknown} {
		lcAssertKept(t, e, v)
	}
	lcAssertSound(t, e)

	t.Run("NothingMore", func(t *testing.T) {
		res, err := e.SweepRetention(ctx, now, r)
		if err != nil || res != (storage.SweepResult{}) {
			t.Errorf("second sweep: %+v, %v; want nothing", res, err)
		}
	})
	t.Run("NoRetention", func(t *testing.T) {
		for _, r := range []storage.Retention{{}, {Default: -lcDayLen}, {Sites: map[string]time.Duration{"demo": -lcDayLen}}} {
			res, err := e.SweepRetention(ctx, now.Add(1000*lcDayLen), r)
			if err != nil || res != (storage.SweepResult{}) {
				t.Errorf("sweep with %+v: %+v, %v; want nothing erased", r, res, err)
			}
		}
	})
	t.Run("ClockMovesOn", func(t *testing.T) {
		res, err := e.SweepRetention(ctx, now.Add(26*lcDayLen), r)
		if err != nil || res.Visitors != 1 {
			t.Fatalf("sweep 26 days later: %+v, %v; want the recent visitor erased", res, err)
		}
		lcAssertGone(t, e, recent, nil)
	})
	t.Run("Default", func(t *testing.T) {
		res, err := e.SweepRetention(ctx, now, storage.Retention{Default: 30 * lcDayLen, Sites: map[string]time.Duration{"archive": 0}})
		if err != nil || res.Visitors != 1 {
			t.Fatalf("sweep with a default: %+v, %v; want the unconfigured site's visitor erased", res, err)
		}
		lcAssertGone(t, e, unknown, nil)
		lcAssertKept(t, e, forever)
	})
	t.Run("Cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := e.SweepRetention(ctx, now.Add(1000*lcDayLen), storage.Retention{Default: lcDayLen}); err == nil {
			t.Error("a cancelled sweep: no error")
		}
	})
}

// lcTestRetentionActivityKeeps: a turn moves the visitor's last-seen time,
// and a sweep keeps it.
func lcTestRetentionActivityKeeps(t *testing.T, e LifecycleEngine) {
	ctx := context.Background()
	now := lcStart.Add(100 * lcDayLen)
	back := lcSeed(t, e, "demo", now.Add(-60*lcDayLen), "Back", "back@example.org", 1)
	if _, _, _, err := e.RecordTurn(ctx, &storage.Turn{SessionID: back.Sessions[0], Touch: now.Add(-lcDayLen)}); err != nil {
		t.Fatal(err)
	}
	if res, err := e.SweepRetention(ctx, now, storage.Retention{Default: 30 * lcDayLen}); err != nil || res.Visitors != 0 {
		t.Errorf("sweep: %+v, %v; want the returning visitor kept", res, err)
	}
	lcAssertKept(t, e, back)
}
