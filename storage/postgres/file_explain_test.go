package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestFiles_Explain: each query of the file store is answered by the
// index it was written for, so an index that stops being used is noticed.
// Sequential scans are switched off: on the test's empty tables the
// planner would rightly prefer them.
func TestFiles_Explain(t *testing.T) {
	ctx := context.Background()
	url := postgrestest.URL(t)
	st, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	id := "01KBXXD0000000000000000000"
	for _, tc := range []struct {
		name  string
		sql   string
		args  []any
		index string // in the plan
	}{
		{"lockUploader", lockUploader, []any{id}, "visitors_pkey"},
		{"selectFile", selectFile, []any{id}, "files_pkey"},
		{"deleteFile", deleteFile, []any{id}, "files_pkey"},
		{"selectVisitorFiles", selectVisitorFiles, []any{id}, "files_by_visitor"},
		{"selectDayUsage", selectDayUsage, []any{id, id, id}, "files_by_visitor"},
		{"selectChunk", selectChunk, []any{id, 0}, "file_chunks_pkey"},
		{"countChunks", countChunks, []any{id}, "file_chunks_pkey"},
		{"deleteChunks", deleteChunks, []any{id}, "file_chunks_pkey"},
		{"deleteUnfiled", deleteUnfiled, []any{id}, "file_chunks_pkey"},
		{"deleteUnfiled/files", deleteUnfiled, []any{id}, "files_pkey"},
		{"deleteOrphans/files", deleteOrphans, []any{id}, "files_pkey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, _ := conn.Query(ctx, "EXPLAIN "+tc.sql, tc.args...)
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(lines, "\n")
			if !strings.Contains(plan, tc.index) {
				t.Errorf("plan does not use %s:\n%s", tc.index, plan)
			}
			if strings.Contains(plan, "Seq Scan") {
				t.Errorf("plan scans a table:\n%s", plan)
			}
		})
	}
}
