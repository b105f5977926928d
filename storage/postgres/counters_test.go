package postgres

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestCounters_OlderStoreUpgrades: a store an older Parley wrote (its
// schema before the counters, sessions and unanswered texts in it) gets
// its counters from the migration and its texts' questions when this
// Parley opens it: the funnel and the Knowledge gaps report equal the
// models over its sessions, and parley check finds the counters sound.
func TestCounters_OlderStoreUpgrades(t *testing.T) {
	ctx := context.Background()
	url := postgrestest.URL(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	all, err := steps()
	if err != nil {
		t.Fatal(err)
	}
	at := slices.IndexFunc(all, func(s step) bool { return s.name == "counters" })
	if at < 0 {
		t.Fatal("no counters migration")
	}
	// The schema as the Parley before the counters left it.
	if _, err := pool.Exec(ctx, `CREATE TABLE parley_schema (version INT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, s := range all[:at] {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO parley_schema (version, name) VALUES ($1, $2)`, s.version, s.name); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, s.sql)
			return err
		})
		if err != nil {
			t.Fatalf("migration %d: %v", s.version, err)
		}
	}
	// Its sessions: a few days of them, less than an hour apart, reaching
	// blocks and goals.
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 300 {
		start := t0.Add(time.Duration(i) * 37 * time.Minute)
		id := storage.NewID(start)
		reached := append([]string{"welcome"}, contract.FunnelBlocks[:i%(len(contract.FunnelBlocks)+1)]...)
		goals := []string{}
		if i%3 == 0 {
			goals = []string{"lead"}
		}
		if _, err := pool.Exec(ctx, `INSERT INTO sessions (id, site, visitor_id, bot, version, started_at, last_activity_at, goals, reached)
			VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)`, id, []string{"demo", "other"}[i%2], "v"+fmt.Sprint(i),
			[]string{"demo", "demo", "sales"}[i%3], []string{"1", "2"}[i%2], start, goals, reached); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO visitors (id, site, created_at, last_seen_at) VALUES ($1, $2, $3, $3)`,
			"v"+fmt.Sprint(i), []string{"demo", "other"}[i%2], start); err != nil {
			t.Fatal(err)
		}
		// Texts only the fallback answered, some asked again in the
		// session, one more than a day later.
		for n, text := range [][]string{{}, {"Pricing?"}, {"pricing", "Do you ship?", "PRICING"}}[i%3] {
			at := start.Add(time.Duration(n) * time.Minute)
			if i == 5 && n == 2 {
				at = start.Add(30 * time.Hour)
			}
			if _, err := pool.Exec(ctx, `INSERT INTO gaps (session_id, n, at, text) VALUES ($1, $2, $3, $4)`, id, n, at, text); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, id)
	}

	s := openTest(t, url, Options{}) // migrates
	var sessions []*storage.Session
	for _, id := range ids {
		sess, err := s.Session(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, sess)
	}
	var queries []storage.FunnelQuery
	for _, bot := range []string{"demo", "sales"} {
		queries = append(queries, storage.FunnelQuery{From: t0, To: t0.AddDate(0, 0, 9), Bot: bot},
			storage.FunnelQuery{From: t0.Add(90 * time.Minute), To: t0.AddDate(0, 0, 5).Add(-20 * time.Minute), Bot: bot},
			storage.FunnelQuery{From: t0.AddDate(0, 0, 1).Add(3 * time.Hour), To: t0.AddDate(0, 0, 1).Add(9 * time.Hour), Bot: bot, Site: "demo"})
	}
	contract.CheckFunnels(t, s, sessions, queries)
	for _, q := range []storage.GapQuery{{}, {From: t0.Add(5 * time.Hour), To: t0.AddDate(0, 0, 3).Add(time.Hour), Limit: 1},
		{From: t0.Add(5*time.Hour + time.Minute), Bot: "demo"}, {Site: "other"}} {
		got, err := s.Gaps(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if want := contract.WantGaps(sessions, q); !reflect.DeepEqual(got, want) {
			t.Errorf("gaps %+v:\n got %+v\nwant %+v", q, got, want)
		}
	}
}

// TestCounters_VerifyFindsAWrongCount: parley check names a funnel
// counter of a day that is not the count of its sessions and one of an
// hour with no session, a gaps' counter that is not the count of its
// texts, and a session whose question has no first text.
func TestCounters_VerifyFindsAWrongCount(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, postgrestest.URL(t), Options{})
	seedAdmin(t, s, 200, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if rep, err := s.Verify(ctx); err != nil || len(rep.Problems) > 0 {
		t.Fatalf("seeded store: %+v, %v", rep, err)
	}
	for _, sql := range []string{
		`UPDATE funnel_daily SET sessions = sessions + 1 WHERE (day, site, bot, version, kind, name, shard) IN
			(SELECT day, site, bot, version, kind, name, shard FROM funnel_daily WHERE kind = 'block' ORDER BY day LIMIT 1)`,
		`INSERT INTO funnel_hourly (hour, site, bot, version, kind, name, shard, sessions)
			VALUES ('2020-01-01T10:00:00Z', 'demo', 'demo', '1', 'goal', 'ghost', 't', 2)`,
		`UPDATE gap_daily SET sessions = sessions + 1 WHERE (day, site, bot, norm, shard) IN
			(SELECT day, site, bot, norm, shard FROM gap_daily ORDER BY day LIMIT 1)`,
		`UPDATE gaps SET is_first = NOT is_first WHERE (session_id, n) IN (SELECT session_id, n FROM gaps ORDER BY session_id, n LIMIT 1)`,
	} {
		if _, err := s.pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, p := range rep.Problems {
		if strings.Contains(p, "funnel counter") {
			found = append(found, p)
		}
	}
	if len(found) != 2 || !slices.ContainsFunc(found, func(p string) bool { return strings.Contains(p, "ghost: 2, the sessions have 0") }) {
		t.Fatalf("problems %q: want the day's block and the hour's ghost goal", rep.Problems)
	}
	// The gaps' day counted one session too many, and a text's first
	// mark flipped: the day's counter and the session's question differ
	// from the texts (the flipped text's day counts one session off too).
	var gapProblems []string
	for _, p := range rep.Problems {
		if strings.HasPrefix(p, "gap") {
			gapProblems = append(gapProblems, p)
		}
	}
	if len(gapProblems) < 2 || !slices.ContainsFunc(gapProblems, func(p string) bool { return strings.Contains(p, "first texts of the question") }) {
		t.Fatalf("problems %q: want the gaps' counter and the flipped first text", rep.Problems)
	}
}

// TestCounters_MarkDeltas: a turn's change of marks, added and taken off,
// whatever the order the session reached them in.
func TestCounters_MarkDeltas(t *testing.T) {
	sess := func(goals []string, reached ...string) *storage.Session {
		return &storage.Session{State: storage.State{Goals: goals, Reached: reached}}
	}
	for _, tt := range []struct {
		prev, next *storage.Session
		want       []string
	}{
		{sess(nil, "welcome"), sess(nil, "welcome"), nil},
		{sess(nil, "welcome"), sess(nil, "welcome", "menu"), []string{"block menu +1"}},
		{sess(nil, "welcome", "menu"), sess([]string{"lead"}, "welcome", "menu", "bye", "ask"),
			[]string{"block ask +1", "block bye +1", "converted  +1", "goal lead +1"}},
		{sess([]string{"lead", "call"}, "z", "a"), sess([]string{"call"}, "a"),
			[]string{"block z -1", "goal lead -1"}},
		{sess([]string{"lead"}, "a"), sess(nil, "b"),
			[]string{"block a -1", "block b +1", "converted  -1", "goal lead -1"}},
	} {
		var d markDeltas
		d.move(tt.prev, tt.next)
		var got []string
		for i := range d.kinds {
			got = append(got, fmt.Sprintf("%s %s %+d", d.kinds[i], d.names[i], d.ns[i]))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%v %v → %v %v: got %q, want %q", tt.prev.State.Goals, tt.prev.State.Reached, tt.next.State.Goals, tt.next.State.Reached, got, tt.want)
		}
	}
}
