package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// seedAdmin fills an empty database with n visitors of one to three
// sessions each over the year before end, as the admin views see them
// (flags, goals, tags, blocks, sentiment, inputs, unanswered texts, search
// terms; the funnel's counters), with COPY: what the EXPLAIN tests and the admin benchmarks
// read. It runs ANALYZE at the end, as autovacuum would after a load.
// It returns the number of sessions.
func seedAdmin(tb testing.TB, s *Store, n int, end time.Time) int {
	tb.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(uint64(n), 7))
	pick := func(vs ...string) string { return vs[r.IntN(len(vs))] }
	names := []string{"Anna", "Ben", "Chiara", "Deniz", "Emil", "Fatima", "Goran", "Hanna", "Ivo", "Jana"}
	texts := []string{"Pricing?", "pricing", "Do you ship to Austria?", "How do I reset my password?", "Kann ich bar zahlen?"}
	var visitors, sessions, inputs, gaps, terms [][]any
	total := 0
	for i := range n {
		created := end.Add(-time.Duration(r.Int64N(int64(365 * 24 * time.Hour)))).Truncate(time.Microsecond)
		v := &storage.Visitor{ID: storage.NewID(created), Site: "demo", Channel: "web", CreatedAt: created, LastSeenAt: created}
		if r.IntN(4) == 0 {
			v.Name = names[r.IntN(len(names))] + fmt.Sprint(i%97)
			v.Email = fmt.Sprintf("user%d@example.org", i)
		}
		at := created
		for k := range 1 + r.IntN(3) {
			if k > 0 {
				if at = at.Add(time.Duration(1+r.IntN(20*24)) * time.Hour); at.After(end) {
					break
				}
			}
			sid := storage.NewID(at)
			last := minTime(at.Add(time.Duration(r.IntN(30*60))*time.Second), end)
			engaged, files, hasInputs := r.IntN(2) == 0, r.IntN(10) == 0, r.IntN(4) == 0
			responses := engaged || files || hasInputs || r.IntN(2) == 0
			goals, tags := []string{}, []string{}
			if r.IntN(3) == 0 {
				goals = []string{"lead"}
			}
			if r.IntN(20) == 0 {
				tags = []string{"pricing"}
			}
			reached := []string{"welcome", "menu", "ask_name", "ask_email", "bye"}[:1+r.IntN(5)]
			sentiment := pick("", storage.SentimentPositive, storage.SentimentNeutral, storage.SentimentNegative)
			unanswered := 0
			var said []storage.Gap
			if r.IntN(3) == 0 {
				for unanswered = range 1 + r.IntN(3) {
					said = append(said, storage.Gap{At: last.Add(-time.Duration(unanswered) * time.Second), Text: texts[r.IntN(len(texts))]})
				}
				unanswered++
			}
			if hasInputs {
				inputs = append(inputs, []any{sid, 0, "ask_email", "email", "email", fmt.Sprintf("user%d@example.org", i), last})
			}
			var interaction any
			if responses {
				interaction = last
			}
			bot := pick("demo", "sales")
			c := newGapColumns(nil, said) // gapcount.go: the report's columns
			for j := range c.ns {
				gaps = append(gaps, []any{sid, c.ns[j], c.at[j], c.text[j], c.norm[j], c.first[j], c.firstAt[j], v.Site, bot})
			}
			sessions = append(sessions, []any{sid, v.Site, v.ID, bot, pick("1", "2"), pick("web", "web", "app"),
				at, last, interaction, engaged, hasInputs, files, responses, goals, tags, reached,
				sentiment, unanswered, pick("", "lead", "support"), pick("", "en", "de"), r.IntN(5) == 0})
			v.LastSeenAt = last
		}
		visitors = append(visitors, []any{v.ID, v.Site, v.Channel, v.CreatedAt, v.LastSeenAt, v.Name, v.Email})
		for _, t := range storage.SearchTerms(v) {
			terms = append(terms, []any{t, v.ID})
		}
		if len(visitors) == 10_000 || i == n-1 {
			// A chunk at a time: a million visitors never sit in memory.
			copyAdmin(tb, s, visitors, sessions, inputs, gaps, terms)
			total += len(sessions)
			visitors, sessions, inputs, gaps, terms = nil, nil, nil, nil, nil
		}
	}
	// COPY went around the writers: the funnel's counters are counted
	// once, as parley migrate's load does (counters.go).
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return recountCounters(ctx, tx) }); err != nil {
		tb.Fatal(err)
	}
	vacuum(tb, s)
	return total
}

// vacuum runs VACUUM ANALYZE on the store's own tables (not the other
// tests' in the database), however long it takes: a million visitors'
// tables take longer than a statement may (Options.StatementTimeout).
func vacuum(tb testing.TB, s *Store) {
	tb.Helper()
	ctx := context.Background()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Release()
	rows, _ := conn.Query(ctx, `SELECT quote_ident(table_name) FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	for _, sql := range []string{`SET statement_timeout = 0`, `VACUUM ANALYZE ` + strings.Join(tables, ", "), `RESET statement_timeout`} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			tb.Fatal(err)
		}
	}
}

// copyAdmin writes seedAdmin's rows with COPY.
func copyAdmin(tb testing.TB, s *Store, visitors, sessions, inputs, gaps, terms [][]any) {
	tb.Helper()
	for _, c := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"visitors", []string{"id", "site", "channel", "created_at", "last_seen_at", "name", "email"}, visitors},
		{"sessions", []string{"id", "site", "visitor_id", "bot", "version", "channel", "started_at", "last_activity_at",
			"last_interaction_at", "engaged", "has_inputs", "has_files", "has_responses", "goals", "tags", "reached",
			"sentiment", "unanswered_count", "story_type", "lang", "ended"}, sessions},
		{"inputs", []string{"session_id", "n", "block", "variable", "kind", "value", "at"}, inputs},
		{"gaps", []string{"session_id", "n", "at", "text", "norm", "is_first", "first_at", "site", "bot"}, gaps},
		{"visitor_terms", []string{"term", "visitor_id"}, terms},
	} {
		if _, err := s.pool.CopyFrom(context.Background(), pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			tb.Fatalf("seed %s: %v", c.table, err)
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
