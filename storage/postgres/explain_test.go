package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// recorder notes every statement a store sends, alone or in a batch.
type recorder struct {
	mu    sync.Mutex
	stmts []statement
}

type statement struct {
	sql  string
	args []any
}

func (r *recorder) note(sql string, args []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stmts = append(r.stmts, statement{sql, args})
}

func (r *recorder) take() []statement {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.stmts
	r.stmts = nil
	return out
}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.note(d.SQL, d.Args)
	return ctx
}
func (r *recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *recorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (r *recorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.note(d.SQL, d.Args)
}
func (r *recorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// plan is a node of EXPLAIN (FORMAT JSON)'s plan tree.
type plan struct {
	NodeType     string `json:"Node Type"`
	RelationName string `json:"Relation Name"`
	IndexName    string `json:"Index Name"`
	Plans        []plan `json:"Plans"`
}

// walk calls fn with the node and every node below it.
func (p plan) walk(fn func(plan)) {
	fn(p)
	for _, c := range p.Plans {
		c.walk(fn)
	}
}

// explain returns the plan of a statement as the server would run it
// with these arguments.
func explain(tb testing.TB, pool *pgxpool.Pool, st statement) plan {
	tb.Helper()
	var out []struct{ Plan plan }
	var raw []byte
	if err := pool.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+st.sql, st.args...).Scan(&raw); err != nil {
		tb.Fatalf("explain %s: %v", st.sql, err)
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out) != 1 {
		tb.Fatalf("explain %s: %s: %v", st.sql, raw, err)
	}
	return out[0].Plan
}

// bigTables are those an admin view must never read whole: a smaller
// table's rows, a few a session, may well be read in one scan rather than
// by many probes, which the planner decides by the table's size.
var bigTables = []string{"sessions", "messages", "gaps"}

// TestExplain_AdminViews runs each admin view on a seeded store of 10,000
// visitors (about 20,000 sessions, analysed) and checks the plan of every
// statement it sends: the indexes the view is built on are used, and no
// big table is read whole (a sequential scan). An index that stops being
// used, or a filter that loses its index, fails here.
func TestExplain_AdminViews(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 10,000 visitors")
	}
	ctx := context.Background()
	url := postgrestest.URL(t)
	s, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	end := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seedAdmin(t, s, 10_000, end)
	rec := &recorder{}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = rec
	traced, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer traced.Close()
	ts := &Store{pool: traced, log: s.log}
	// A few sockets open: with none, the active sessions are known to be
	// none without an index (id = ANY('{}') is false).
	rows, _ := s.pool.Query(ctx, `SELECT id FROM sessions ORDER BY id LIMIT 3`)
	active, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	live := staticLive{timeout: 30 * time.Minute, active: active}
	yes := true
	month := end.AddDate(0, -1, 0)

	tests := []struct {
		name string
		run  func() error
		want []string // indexes the view's statements must use
	}{
		{"Sessions", func() error { _, err := ts.Sessions(ctx, storage.SessionQuery{}); return err },
			[]string{"sessions_by_start", "visitors_pkey", "inputs_pkey", "gaps_pkey"}},
		{"SessionsNextPage", func() error {
			p, err := ts.Sessions(ctx, storage.SessionQuery{})
			if err == nil {
				rec.take()
				_, err = ts.Sessions(ctx, storage.SessionQuery{Cursor: p.Next})
			}
			return err
		}, []string{"sessions_by_start"}},
		{"SessionsBot", func() error {
			_, err := ts.Sessions(ctx, storage.SessionQuery{Bot: "sales", Goal: storage.AnyGoal})
			return err
		},
			[]string{"sessions_by_bot_start"}},
		{"SessionsFilters", func() error {
			_, err := ts.Sessions(ctx, storage.SessionQuery{Channel: "web", Responses: &yes, Lang: "en", From: month, To: end})
			return err
		}, []string{"sessions_by_start"}},
		{"SessionsActive", func() error {
			_, err := ts.Sessions(ctx, storage.SessionQuery{Status: storage.StatusActive, Live: live, Now: end})
			return err
		}, []string{"sessions_pkey"}},
		{"SessionsClosed", func() error {
			_, err := ts.Sessions(ctx, storage.SessionQuery{Status: storage.StatusClosed, Live: live, Now: end})
			return err
		}, []string{"sessions_by_activity", "sessions_by_start"}},
		{"SessionsSearch", func() error { _, err := ts.Sessions(ctx, storage.SessionQuery{Q: "anna"}); return err },
			[]string{"visitor_terms_pkey", "visitors_pkey", "sessions_by_visitor_id|sessions_by_visitor_activity"}},
		{"SessionsSearchFiltered", func() error {
			_, err := ts.Sessions(ctx, storage.SessionQuery{Q: "anna", Bot: "sales", Status: storage.StatusClosed, Live: live, Now: end})
			return err
		}, []string{"visitor_terms_pkey", "visitors_pkey", "sessions_by_visitor_id|sessions_by_visitor_activity"}},
		{"VisitorSessions", func() error {
			v := firstVisitor(t, s)
			_, err := ts.VisitorSessions(ctx, storage.VisitorSessionQuery{VisitorID: v, Flags: storage.FlagEngaged})
			return err
		}, []string{"sessions_by_visitor_activity|sessions_by_visitor_id"}},
		{"Users", func() error { _, err := ts.Users(ctx, storage.UserQuery{}); return err },
			[]string{"sessions_by_activity", "sessions_by_visitor_activity|sessions_by_visitor_id"}},
		{"UsersFiles", func() error { _, err := ts.Users(ctx, storage.UserQuery{Flags: storage.FlagFiles}); return err },
			[]string{"sessions_files_by_activity"}},
		{"UsersEngagedInputs", func() error {
			_, err := ts.Users(ctx, storage.UserQuery{Flags: storage.FlagEngaged | storage.FlagInputs, From: month})
			return err
		}, nil},
		{"UsersSearch", func() error { _, err := ts.Users(ctx, storage.UserQuery{Q: "user12"}); return err },
			[]string{"visitor_terms_pkey"}},
		{"UsersID", func() error { _, err := ts.Users(ctx, storage.UserQuery{Q: firstVisitor(t, s)[:8]}); return err },
			[]string{"visitors_pkey"}},
		{"Gaps30Days", func() error { _, err := ts.Gaps(ctx, storage.GapQuery{From: month, To: end}); return err },
			[]string{"gap_daily_pkey", "gaps_by_norm", "gaps_by_norm_first", "gaps_long_by_norm"}},
		{"Gaps30DaysBot", func() error { _, err := ts.Gaps(ctx, storage.GapQuery{From: month, To: end, Bot: "demo"}); return err },
			[]string{"gap_daily_pkey", "gaps_by_norm"}},
		{"GapsCutPeriod", func() error {
			// Days cut at both ends: their texts.
			_, err := ts.Gaps(ctx, storage.GapQuery{From: month.Add(90 * time.Minute), To: end.Add(-150 * time.Minute), Site: "demo"})
			return err
		}, []string{"gap_daily_pkey", "gaps_by_at", "gaps_by_norm"}},
		{"GapsScan", func() error { _, err := ts.Gaps(ctx, storage.GapQuery{From: month, To: end, MaxScan: 10}); return err },
			[]string{"gaps_by_at"}},
		{"Funnel30Days", func() error {
			_, err := ts.Funnel(ctx, storage.FunnelQuery{From: month, To: end, Bot: "demo"})
			return err
		}, []string{"funnel_daily_pkey"}},
		{"FunnelCutPeriod", func() error {
			// Hours cut at both ends: their sessions, the day's hours.
			_, err := ts.Funnel(ctx, storage.FunnelQuery{From: month.Add(90 * time.Minute), To: end.Add(-150 * time.Minute), Bot: "demo"})
			return err
		}, []string{"funnel_daily_pkey", "funnel_hourly_pkey", "sessions_by_start"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.take()
			if err := tt.run(); err != nil {
				t.Fatal(err)
			}
			used := map[string]bool{}
			for _, st := range rec.take() {
				p := explain(t, s.pool, st)
				var desc []string
				p.walk(func(n plan) {
					if n.IndexName != "" {
						used[n.IndexName] = true
					}
					if n.NodeType == "Seq Scan" && slices.Contains(bigTables, n.RelationName) {
						t.Errorf("reads all of %s: %s", n.RelationName, oneLine(st.sql))
					}
					desc = append(desc, fmt.Sprintf("%s %s %s", n.NodeType, n.RelationName, n.IndexName))
				})
				t.Logf("%s\n\t%s", oneLine(st.sql), strings.Join(desc, "\n\t"))
			}
			for _, idx := range tt.want {
				// "a|b": either will do.
				if !slices.ContainsFunc(strings.Split(idx, "|"), func(i string) bool { return used[i] }) {
					t.Errorf("index %s is not used (used: %v)", idx, used)
				}
			}
		})
	}
}

func oneLine(sql string) string { return strings.Join(strings.Fields(sql), " ") }

// firstVisitor returns a visitor with sessions.
func firstVisitor(tb testing.TB, s *Store) string {
	tb.Helper()
	var id string
	if err := s.pool.QueryRow(context.Background(), `SELECT visitor_id FROM sessions ORDER BY id LIMIT 1`).Scan(&id); err != nil {
		tb.Fatal(err)
	}
	return id
}

// staticLive is a gateway with these sockets open and one session
// timeout for every site.
type staticLive struct {
	timeout time.Duration
	active  []string
}

func (l staticLive) Active(id string) bool               { return slices.Contains(l.active, id) }
func (l staticLive) ActiveSessions() []string            { return l.active }
func (l staticLive) SessionTimeout(string) time.Duration { return l.timeout }
func (l staticLive) MaxSessionTimeout() time.Duration    { return l.timeout }
