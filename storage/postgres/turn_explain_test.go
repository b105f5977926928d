package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestTurn_Explain: each query of the turn path, the outbox's write side
// and the usage report is answered by the indexes it was written for, so
// an index that stops being used is noticed. Sequential scans are
// switched off: on the test's empty tables the planner would rightly
// prefer them.
func TestTurn_Explain(t *testing.T) {
	ctx := context.Background()
	url := postgrestest.URL(t)
	s := openTest(t, url, Options{})
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	id := "01KBXXD0000000000000000000"
	prev := &storage.Session{ID: id, Site: "demo", VisitorID: id, StartedAt: t0}
	turn := textTurn(prev, "c1", t0)
	turn.Inputs = []storage.Input{{Block: "b", Variable: "email", Kind: "email", Value: "a@b.org", At: t0}}
	turn.Gaps = []storage.Gap{{At: t0, Text: "what?"}}
	next, ack, err := storage.NextSession(turn, prev)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newTurnWrite(turn, prev, next, ack)
	if err != nil {
		t.Fatal(err)
	}
	s.SetOutbox(storage.OutboxConfig{Route: func(string, string) []string { return []string{"demo/a"} }})
	if err := s.enqueueTurn(w, turn, next, prev); err != nil {
		t.Fatal(err)
	}
	from, to := t0, t0.Add(24*time.Hour)
	for _, tc := range []struct {
		name    string
		sql     string
		args    []any
		indexes []string // in the plan
	}{
		{"turnSQL", turnSQL, roundArgs([]*turnWrite{w}), []string{"sessions_pkey", "visitors_pkey"}},
		{"selectErasing", selectErasing, []any{id}, []string{"sessions_pkey", "visitors_pkey"}},
		{"selectMessages", selectMessages, []any{id, 10}, []string{"messages_pkey"}},
		{"selectLatestMessages", selectLatestMessages, []any{id, 10}, []string{"messages_pkey"}},
		{"selectAck", selectAck, []any{id, "c1"}, []string{"acks_pkey"}},
		{"selectAcks", selectAcks, []any{id}, []string{"acks_pkey"}},
		{"selectLatestSession", selectLatestSession, []any{id}, []string{"sessions_by_visitor_id"}},
		{"selectVisitorSessions", selectVisitorSessions, []any{id}, []string{"sessions_by_visitor_id"}},
		{"selectMerged", selectMerged, []any{id}, []string{"visitor_merges_pkey"}},
		{"selectStartedOutside", selectStartedOutside, []any{from, from, to, to}, []string{"sessions_by_start"}},
		{"selectStarts", selectStarts, []any{from, to, ""}, []string{"sessions_by_start"}},
		{"selectUsageDays/all", selectUsageDays, []any{"2026-01-01", "2026-01-31", ""}, []string{"usage_daily_by_day"}},
		{"selectUsageDays/site", selectUsageDays, []any{"2026-01-01", "2026-01-31", "demo"}, []string{"usage_daily_pkey"}},
		{"selectRefused/all", selectRefused, []any{from, to, ""}, []string{"refused_hourly_by_hour"}},
		{"selectRefused/site", selectRefused, []any{from, to, "demo"}, []string{"refused_hourly_pkey"}},
		{"selectBacklog", selectBacklog, []any{"demo/a"}, []string{"webhook_outbox_pkey"}},
		{"selectBacklogs", selectBacklogs, nil, []string{"webhook_outbox_pkey"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, _ := conn.Query(ctx, "EXPLAIN "+tc.sql, tc.args...)
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(lines, "\n")
			for _, ix := range tc.indexes {
				if !strings.Contains(plan, ix) {
					t.Errorf("plan does not use %s:\n%s", ix, plan)
				}
			}
			if strings.Contains(plan, "Seq Scan") {
				t.Errorf("plan scans a table:\n%s", plan)
			}
		})
	}
}
