package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestExplain_People: each query of the agents, the inbox, identify and
// profiles is planned along its index, so one that stops being used is
// noticed. Sequential scans are priced out, as a large table would, so
// the planner shows which index it can use.
func TestExplain_People(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, postgrestest.URL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conn, err := st.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	id, now := "01JAAAAAAAAAAAAAAAAAAAAAAA", time.Now()
	for _, q := range []struct {
		sql   string
		args  []any
		index string
	}{
		{sqlAgent, []any{"ana"}, "agents_pkey"},
		{sqlAgents, nil, "agents_pkey"},
		{sqlConsole, []any{"ab12"}, "console_sessions_pkey"},
		{sqlDropAgentConsoles, []any{"ana"}, "console_sessions_by_agent"},
		{sqlDropExpiredConsoles, []any{now}, "console_sessions_by_expiry"},
		{sqlConversation + ` FOR UPDATE`, []any{id}, "conversations_pkey"},
		{sqlOpenConversations, nil, "conversations_open"},
		{sqlNotes, []any{id}, "notes_pkey"},
		{sqlHandovers, nil, "sessions_handover"},
		{sqlUserVisitor + ` FOR UPDATE`, []any{"demo", "u-1"}, "visitors_by_platform_id"},
		{sqlPlatformVisitor, []any{"demo", "u-1"}, "visitors_by_platform_id"},
		{sqlLockSessions, []any{id}, "sessions_by_visitor_"}, // _id or _activity: both lead with visitor_id
		{sqlMoveSessions, []any{id, id}, "sessions_by_visitor_"},
		{sqlMoveChanges, []any{id, id}, "profile_changes_pkey"},
		{sqlMoveFiles, []any{id, id}, "files_by_visitor"},
		{sqlMergedInto, []any{id}, "visitor_merges_pkey"},
		{sqlProfileChanges, []any{id, 10}, "profile_changes_pkey"},
	} {
		rows, err := conn.Query(ctx, `EXPLAIN `+q.sql, q.args...)
		if err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
		if p := strings.Join(plan, "\n"); !strings.Contains(p, q.index) || strings.Contains(p, "Seq Scan") {
			t.Errorf("%s\nplan:\n%s\nwant it along %s", q.sql, p, q.index)
		}
	}
}
