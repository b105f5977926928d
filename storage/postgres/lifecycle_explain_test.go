package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestLifecycle_Explain: every query of the lifecycle (erase, retention,
// the idle sweep, webhook delivery, export) can be answered from an
// index: with sequential scans priced out, none is planned, and the index
// named is used. An index that stops serving its query fails here.
func TestLifecycle_Explain(t *testing.T) {
	st := lifecycleStore(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, q := range []struct {
		sql   string
		args  []any
		index string // the index it must use; a|b: either
	}{
		{sqlFence, []any{"v"}, "visitors_pkey"},
		{sqlVisitorSessions, []any{"v"}, "sessions_by_visitor_id|sessions_by_visitor_activity"},
		{sqlMergedBrowsers, []any{"v"}, "visitor_merges_by_into"},
		{sqlSessionsLeft, []any{"v"}, "sessions_by_visitor_id|sessions_by_visitor_activity"},
		{deleteBatchSQL("messages", "session_id, id", "session_id = $1", eraseBatch), []any{"s"}, "messages_pkey"},
		{deleteBatchSQL("inputs", "session_id, n", "session_id = $1", eraseBatch), []any{"s"}, "inputs_pkey"},
		{deleteBatchSQL("gaps", "session_id, n", "session_id = $1", eraseBatch), []any{"s"}, "gaps_pkey"},
		{deleteBatchSQL("acks", "session_id, client_id", "session_id = $1", eraseBatch), []any{"s"}, "acks_pkey"},
		{deleteBatchSQL("webhook_outbox", "endpoint, seq", "visitor_id = $1", eraseBatch), []any{"v"}, "webhook_outbox_by_visitor"},
		{deleteBatchSQL("webhook_log", "endpoint, seq", "visitor_id = $1", eraseBatch), []any{"v"}, "webhook_log_by_visitor"},
		{deleteBatchSQL("visitor_terms", "term, visitor_id", "visitor_id = $1", eraseBatch), []any{"v"}, "visitor_terms_by_visitor"},
		{deleteBatchSQL("file_chunks", "file_id, n", "file_id = $1", chunkBatch), []any{"f"}, "file_chunks_pkey"},
		{sqlVisitorFiles, []any{"v"}, "files_by_visitor"},
		{sqlExportFiles, []any{"v"}, "files_by_visitor"},
		{sqlErasing, []any{"", 10}, "visitors_erasing"},
		{sqlSites, nil, "visitors_by_site_seen"},
		{sqlSeenBefore, []any{"demo", at, at, "", 10}, "visitors_by_site_seen"},
		{sqlExpire, []any{"v", "demo", at}, "visitors_pkey|visitors_by_site_seen"},
		{sqlIdleEntries, []any{at, "", at, 10}, "sessions_by_activity"},
		{sqlHeld, []any{10}, "sessions_idle_held_pkey"},
		{sqlExportSessions, []any{"v"}, "sessions_by_visitor_id"},
		{sqlExportMessages, []any{"s"}, "messages_pkey"},
		{sqlExportChanges, []any{"v"}, "profile_changes_pkey"},
		{sqlExportNotes, []any{"s"}, "notes_pkey"},
		{sqlOutboxPage, []any{"demo/a", 0, 10}, "webhook_outbox_pkey"},
		{sqlLogTrim, []any{"demo/a", 100}, "webhook_log_pkey"},
		{sqlLogPage, []any{"demo/a", 10}, "webhook_log_pkey"},
		{sqlBacklog, []any{"demo/a"}, "webhook_outbox_pkey"},
	} {
		plan := explainText(t, st, ctx, q.sql, q.args...)
		uses := slices.ContainsFunc(strings.Split(q.index, "|"), func(ix string) bool { return strings.Contains(plan, ix) })
		if strings.Contains(plan, "Seq Scan") || !uses {
			t.Errorf("%s\nplan, want %s and no sequential scan:\n%s", q.sql, q.index, plan)
		}
	}
}

// explainText returns the plan of sql with sequential scans priced out.
func explainText(tb testing.TB, st *Store, ctx context.Context, sql string, args ...any) string {
	tb.Helper()
	var plan []string
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `EXPLAIN `+sql, args...)
		var err error
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		tb.Fatalf("explain %s: %v", sql, err)
	}
	return strings.Join(plan, "\n")
}
