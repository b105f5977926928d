package contract

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// UsageEngine is what TestUsage needs of an engine: sessions started,
// refusals counted, the usage report.
type UsageEngine interface {
	CreateSession(ctx context.Context, v *storage.Visitor, sess *storage.Session) error
	Usage(ctx context.Context, q storage.UsageQuery) (*storage.UsageReport, error)
	CountRefused(r storage.Refusal)
	FlushRefused(ctx context.Context) error
}

// TestUsage: the usage report counts the sessions started in a period,
// cut days and filters included, as counting them one by one does; it
// counts refused starts to the hour, stored or still in memory; it
// refuses a bad period.
func TestUsage(t *testing.T, open func(testing.TB) UsageEngine) {
	t.Run("MatchesBruteForce", func(t *testing.T) { testUsageBruteForce(t, open(t)) })
	t.Run("Refused", func(t *testing.T) { testUsageRefused(t, open(t)) })
	t.Run("BadQuery", func(t *testing.T) { testUsageBadQuery(t, open(t)) })
}

func testUsageBruteForce(t *testing.T, s UsageEngine) {
	ctx := context.Background()
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(17, 1))
	var sessions []*storage.Session
	for i := range 60 {
		start := end.Add(-time.Duration(r.Int64N(int64(365 * 24 * time.Hour)))).Truncate(time.Second)
		site := []string{"demo", "demo", "other"}[r.IntN(3)]
		v := &storage.Visitor{ID: storage.NewID(start), Site: site, Channel: "web", CreatedAt: start}
		for n := range 1 + r.IntN(3) {
			at := start.Add(time.Duration(n) * time.Duration(r.Int64N(int64(72*time.Hour))))
			sess := &storage.Session{ID: storage.NewID(at), Site: site, VisitorID: v.ID, StartedAt: at,
				Bot: []string{"demo", "sales"}[r.IntN(2)], Version: fmt.Sprint(1 + r.IntN(2)), Channel: []string{"web", "web", "api"}[r.IntN(3)]}
			if err := s.CreateSession(ctx, v, sess); err != nil {
				t.Fatalf("session %d: %v", i, err)
			}
			sessions = append(sessions, sess)
		}
	}
	periods := []storage.UsageQuery{
		{From: end.AddDate(0, 0, -30), To: end},
		{From: end.AddDate(-1, 0, 0), To: end},
		{From: end.AddDate(0, -5, 0).Add(13 * time.Hour), To: end.AddDate(0, -1, 0).Add(7 * time.Hour)},
		{From: end.AddDate(0, -5, 0).Add(13 * time.Hour), To: end.AddDate(0, -5, 0).Add(20 * time.Hour)},
		{From: end.AddDate(-1, 0, 0), To: end, Bot: "sales"},
		{From: end.AddDate(-1, 0, 0), To: end, Bot: "demo", Version: "2", Channel: "web"},
		{From: end.AddDate(-1, 0, 0), To: end, Site: "other"},
		{From: end, To: end},
	}
	// Cut days: a period ending or starting at a session's own start.
	for _, sess := range sessions[:10] {
		periods = append(periods, storage.UsageQuery{From: sess.StartedAt, To: end}, storage.UsageQuery{From: end.AddDate(-2, 0, 0), To: sess.StartedAt, Site: "demo"})
	}
	for i, q := range periods {
		t.Run(fmt.Sprintf("p%d", i), func(t *testing.T) {
			got, err := s.Usage(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var total int64
			days, months, bots, channels := map[string]int64{}, map[string]int64{}, map[string]int64{}, map[string]int64{}
			versions := map[[2]string]int64{}
			for _, sess := range sessions {
				if !sess.StartedAt.Before(q.From) && sess.StartedAt.Before(q.To) && (q.Site == "" || sess.Site == q.Site) &&
					(q.Bot == "" || q.Bot == sess.Bot) && (q.Version == "" || q.Version == sess.Version) && (q.Channel == "" || q.Channel == sess.Channel) {
					total++
					days[sess.StartedAt.Format("2006-01-02")]++
					months[sess.StartedAt.Format("2006-01")]++
					bots[sess.Bot]++
					channels[sess.Channel]++
					versions[[2]string{sess.Bot, sess.Version}]++
				}
			}
			if got.Total != total {
				t.Fatalf("total %d, want %d", got.Total, total)
			}
			wantDays := 0
			if q.From.Before(q.To) {
				for d := q.From.Truncate(24 * time.Hour); d.Before(q.To); d = d.AddDate(0, 0, 1) {
					wantDays++
				}
			}
			if len(got.Days) != wantDays {
				t.Errorf("%d days, want %d", len(got.Days), wantDays)
			}
			for _, d := range got.Days {
				if d.Count != days[d.Key] {
					t.Errorf("day %s: %d, want %d", d.Key, d.Count, days[d.Key])
				}
			}
			for _, m := range got.Months {
				if m.Count != months[m.Key] {
					t.Errorf("month %s: %d, want %d", m.Key, m.Count, months[m.Key])
				}
			}
			for _, list := range []struct {
				got  []storage.Count
				want map[string]int64
			}{{got.Bots, bots}, {got.Channels, channels}} {
				if len(list.got) != len(list.want) {
					t.Errorf("buckets %+v, want %v", list.got, list.want)
				}
				for i, b := range list.got {
					if b.Count != list.want[b.Key] || i > 0 && b.Count > list.got[i-1].Count {
						t.Errorf("bucket %s: %d, want %d, most first", b.Key, b.Count, list.want[b.Key])
					}
				}
			}
			if len(got.Versions) != len(versions) {
				t.Errorf("versions %+v, want %v", got.Versions, versions)
			}
			for _, v := range got.Versions {
				if v.Count != versions[[2]string{v.Bot, v.Version}] {
					t.Errorf("version %s %s: %d, want %d", v.Bot, v.Version, v.Count, versions[[2]string{v.Bot, v.Version}])
				}
			}
		})
	}
}

func testUsageRefused(t *testing.T, s UsageEngine) {
	ctx := context.Background()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	refuse := func(site, bot, reason string, at time.Time, n int) {
		for range n {
			s.CountRefused(storage.Refusal{Site: site, Bot: bot, Version: "1", Channel: "web", Reason: reason, At: at})
		}
	}
	v := &storage.Visitor{ID: storage.NewID(day), Site: "demo", Channel: "web", CreatedAt: day}
	sess := &storage.Session{ID: storage.NewID(day), Site: "demo", VisitorID: v.ID, Bot: "demo", Version: "1", Channel: "web", StartedAt: day.Add(time.Hour)}
	if err := s.CreateSession(ctx, v, sess); err != nil {
		t.Fatal(err)
	}
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
		for i, c := range r.RefusedReasons {
			if reasons[c.Key] != c.Count || i > 0 && c.Count > r.RefusedReasons[i-1].Count {
				t.Fatalf("%s: reasons %+v, want %v most first", name, r.RefusedReasons, reasons)
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
	// Counted in memory, flushed, both: the same report.
	check("Pending", twoDays, 10, []int64{7, 3}, all)
	if err := s.FlushRefused(ctx); err != nil {
		t.Fatal(err)
	}
	check("Flushed", twoDays, 10, []int64{7, 3}, all)
	refuse("demo", "demo", "visitors_per_ip", day.Add(10*time.Hour), 1)
	all["visitors_per_ip"]++
	check("FlushedAndPending", twoDays, 11, []int64{8, 3}, all)
	if err := s.FlushRefused(ctx); err != nil {
		t.Fatal(err)
	}
	check("FlushedTwice", twoDays, 11, []int64{8, 3}, all)

	// Filters and periods: to the hour.
	check("Site", storage.UsageQuery{From: day, To: day.AddDate(0, 0, 2), Site: "other"}, 3, []int64{0, 3}, map[string]int64{"visitors_per_ip": 3})
	check("Bot", storage.UsageQuery{From: day, To: day.AddDate(0, 0, 2), Bot: "demo"}, 8, []int64{8, 0}, map[string]int64{"visitors_per_ip": 6, "sessions_per_visitor": 2})
	check("HourCut", storage.UsageQuery{From: day.Add(10*time.Hour + 30*time.Minute), To: day.Add(11 * time.Hour)}, 8, []int64{8}, map[string]int64{"visitors_per_ip": 6, "sessions_per_visitor": 2})
	check("HourAfter", storage.UsageQuery{From: day.Add(11 * time.Hour), To: day.Add(12 * time.Hour)}, 0, []int64{0}, map[string]int64{})
}

func testUsageBadQuery(t *testing.T, s UsageEngine) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	for name, q := range map[string]storage.UsageQuery{
		"Backwards": {From: end, To: end.Add(-time.Hour)},
		"NoFrom":    {To: end},
		"NoTo":      {From: end},
		"TooLong":   {From: end.AddDate(-11, 0, 0), To: end},
	} {
		_, err := s.Usage(context.Background(), q)
		var fe *storage.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: got %v, want a *FieldError", name, err)
		}
	}
}
