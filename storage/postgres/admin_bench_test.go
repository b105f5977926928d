package postgres

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// BenchVisitorsEnv sets how many visitors BenchmarkAdmin seeds (default
// 2,000, so CI runs it quickly; the README's figures use 100,000 and
// 1,000,000).
const BenchVisitorsEnv = "PARLEY_BENCH_VISITORS"

// BenchmarkAdmin times the admin views' first pages on a seeded store: the
// sessions dashboard unfiltered and with a few filters, the users
// overview, the Knowledge gaps of 30 days, the funnel of 30 and 365 days.
// Each sub-benchmark reports its p50 and p95 in milliseconds besides the
// mean (ns/op).
//
//	PARLEY_BENCH_VISITORS=100000 go test -run=NONE -bench=Admin -benchtime=200x ./storage/postgres
func BenchmarkAdmin(b *testing.B) {
	n := 2000
	if v := os.Getenv(BenchVisitorsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive number", BenchVisitorsEnv, v)
		}
	}
	ctx := context.Background()
	// The seed's COPY of a chunk takes longer than a statement may by
	// default on a busy machine at a million visitors.
	s, err := Open(ctx, postgrestest.URL(b), Options{StatementTimeout: 10 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	end := time.Now().UTC()
	start := time.Now()
	sessions := seedAdmin(b, s, n, end)
	b.Logf("seeded %d visitors, %d sessions in %v", n, sessions, time.Since(start).Round(time.Millisecond))
	month, year := end.AddDate(0, -1, 0), end.AddDate(-1, 0, 0)
	yes := true
	live := staticLive{timeout: 30 * time.Minute}
	views := []struct {
		name string
		run  func() error
	}{
		{"Sessions", func() error { _, err := s.Sessions(ctx, storage.SessionQuery{}); return err }},
		{"SessionsBotGoal", func() error {
			_, err := s.Sessions(ctx, storage.SessionQuery{Bot: "sales", Goal: "lead"})
			return err
		}},
		{"SessionsChannelLangMonth", func() error {
			_, err := s.Sessions(ctx, storage.SessionQuery{Channel: "app", Responses: &yes, Lang: "de", From: month, To: end})
			return err
		}},
		{"SessionsTag", func() error { _, err := s.Sessions(ctx, storage.SessionQuery{Tag: "pricing"}); return err }},
		{"SessionsClosed", func() error {
			_, err := s.Sessions(ctx, storage.SessionQuery{Status: storage.StatusClosed, Live: live, Now: end})
			return err
		}},
		{"SessionsSearch", func() error { _, err := s.Sessions(ctx, storage.SessionQuery{Q: "anna"}); return err }},
		{"Users", func() error { _, err := s.Users(ctx, storage.UserQuery{}); return err }},
		{"UsersFiles", func() error { _, err := s.Users(ctx, storage.UserQuery{Flags: storage.FlagFiles}); return err }},
		{"UsersSearch", func() error { _, err := s.Users(ctx, storage.UserQuery{Q: "user12"}); return err }},
		{"Gaps30Days", func() error { _, err := s.Gaps(ctx, storage.GapQuery{From: month, To: end}); return err }},
		{"Funnel30Days", func() error {
			_, err := s.Funnel(ctx, storage.FunnelQuery{From: month, To: end, Bot: "demo"})
			return err
		}},
		{"Funnel365Days", func() error {
			_, err := s.Funnel(ctx, storage.FunnelQuery{From: year, To: end, Bot: "demo"})
			return err
		}},
	}
	for _, v := range views {
		b.Run(v.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				t := time.Now()
				if err := v.run(); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(t))
			}
			slices.Sort(took)
			ms := func(q float64) float64 { return float64(took[int(q*float64(len(took)-1))]) / 1e6 }
			b.ReportMetric(ms(0.50), "p50-ms")
			b.ReportMetric(ms(0.95), "p95-ms")
		})
	}
}
