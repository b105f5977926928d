package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

func TestUsage_Refused(t *testing.T) {
	s, dir := MustOpen(t)
	ctx := context.Background()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	refuse := func(site, bot, reason string, at time.Time, n int) {
		for range n {
			s.CountRefused(storage.Refusal{Site: site, Bot: bot, Version: "1", Channel: "web", Reason: reason, At: at})
		}
	}
	mustSession(t, s, storage.NewID(day), day.Add(time.Hour))
	refuse("demo", "demo", "visitors_per_ip", day.Add(10*time.Hour), 5)
	refuse("demo", "demo", "sessions_per_visitor", day.Add(10*time.Hour+5*time.Minute), 2)
	refuse("other", "sales", "visitors_per_ip", day.Add(26*time.Hour), 3)
	refuse("demo", "demo", "visitors_per_ip", day.AddDate(0, 0, -1), 100) // before the period

	check := func(name string, q storage.UsageQuery, total int64, days []int64, reasons map[string]int64) {
		t.Helper()
		r, err := s.Usage(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if r.Refused != total || len(r.RefusedDays) != len(days) {
			t.Fatalf("%s: refused %d over %d days, want %d over %d", name, r.Refused, len(r.RefusedDays), total, len(days))
		}
		for i, d := range r.RefusedDays {
			if d.Key != r.Days[i].Key || d.Count != days[i] {
				t.Fatalf("%s: refused day %d = %+v, want %s %d", name, i, d, r.Days[i].Key, days[i])
			}
		}
		for _, c := range r.RefusedReasons {
			if reasons[c.Key] != c.Count {
				t.Fatalf("%s: reason %s = %d, want %d", name, c.Key, c.Count, reasons[c.Key])
			}
		}
		if len(r.RefusedReasons) != len(reasons) {
			t.Fatalf("%s: reasons %+v, want %v", name, r.RefusedReasons, reasons)
		}
		if q.Site == "" && q.From.Equal(day) && r.Total != 1 {
			t.Fatalf("%s: total %d sessions, want the one started", name, r.Total)
		}
	}
	twoDays := storage.UsageQuery{From: day, To: day.AddDate(0, 0, 2)}
	all := map[string]int64{"visitors_per_ip": 8, "sessions_per_visitor": 2}
	// Counted in memory, flushed, and across a restart: the same report.
	check("Pending", twoDays, 10, []int64{7, 3}, all)
	if err := s.FlushRefused(ctx); err != nil {
		t.Fatal(err)
	}
	check("Flushed", twoDays, 10, []int64{7, 3}, all)
	refuse("demo", "demo", "visitors_per_ip", day.Add(10*time.Hour), 1)
	all["visitors_per_ip"]++
	check("FlushedAndPending", twoDays, 11, []int64{8, 3}, all)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var err error
	if s, err = storage.Open(dir, storage.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	check("Reopened", twoDays, 11, []int64{8, 3}, all)

	// Filters and periods: to the hour.
	check("Site", storage.UsageQuery{From: day, To: day.AddDate(0, 0, 2), Site: "other"}, 3, []int64{0, 3}, map[string]int64{"visitors_per_ip": 3})
	check("Bot", storage.UsageQuery{From: day, To: day.AddDate(0, 0, 2), Bot: "demo"}, 8, []int64{8, 0}, map[string]int64{"visitors_per_ip": 6, "sessions_per_visitor": 2})
	check("HourCut", storage.UsageQuery{From: day.Add(10*time.Hour + 30*time.Minute), To: day.Add(11 * time.Hour)}, 8, []int64{8}, map[string]int64{"visitors_per_ip": 6, "sessions_per_visitor": 2})
	check("HourAfter", storage.UsageQuery{From: day.Add(11 * time.Hour), To: day.Add(12 * time.Hour)}, 0, []int64{0}, map[string]int64{})
}
