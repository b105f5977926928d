package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestJobs_Explain: the queries of the failed sign-in count and the job
// leases read their rows through an index, never a sequential scan.
func TestJobs_Explain(t *testing.T) {
	st := lifecycleStore(t)
	ctx := context.Background()
	for _, q := range []struct {
		sql   string
		args  []any
		index string // the index it must use; a|b: either
	}{
		{sqlSignInWait, []any{"192.0.2.1", int64(54e6)}, "signin_failures_pkey"},
		{sqlSignInFail, []any{"192.0.2.1", int64(6e6), int64(54e6)}, "signin_failures_pkey"},
		{sqlSignInClear, nil, "signin_failures_by_clear_at"},
		{sqlTakeLease, []any{"idle", "node-a", int64(30e6)}, "job_leases_pkey"},
		{sqlReleaseLease, []any{"idle", "node-a"}, "job_leases_pkey"},
		{sqlLeases, nil, "job_leases_pkey"},
	} {
		plan := explainText(t, st, ctx, q.sql, q.args...)
		uses := slices.ContainsFunc(strings.Split(q.index, "|"), func(ix string) bool { return strings.Contains(plan, ix) })
		if strings.Contains(plan, "Seq Scan") || !uses {
			t.Errorf("%s\nplan, want %s and no sequential scan:\n%s", q.sql, q.index, plan)
		}
	}
}
