package storage

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestUsage_MatchesBruteForce(t *testing.T) {
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	f := randomFixture(t, 17, 80, end)
	periods := []UsageQuery{
		{From: end.AddDate(0, 0, -30), To: end},
		{From: end.AddDate(-1, 0, 0), To: end},
		{From: end.AddDate(0, -5, 0).Add(13 * time.Hour), To: end.AddDate(0, -1, 0).Add(7 * time.Hour)},
		{From: end.AddDate(0, -5, 0).Add(13 * time.Hour), To: end.AddDate(0, -5, 0).Add(20 * time.Hour)},
		{From: end.AddDate(-1, 0, 0), To: end, Bot: "sales"},
		{From: end.AddDate(-1, 0, 0), To: end, Bot: "demo", Version: "2", Channel: "web"},
		{From: end.AddDate(-1, 0, 0), To: end, Site: "other"},
	}
	// Cut days: a period ending or starting at each session's own start.
	for _, s := range f.sessions[:10] {
		periods = append(periods, UsageQuery{From: s.StartedAt, To: end}, UsageQuery{From: end.AddDate(-2, 0, 0), To: s.StartedAt})
	}
	for i, q := range periods {
		t.Run(fmt.Sprintf("p%d", i), func(t *testing.T) {
			got, err := f.s.Usage(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			var total int64
			days, bots := map[string]int64{}, map[string]int64{}
			for _, s := range f.sessions {
				if inPeriod(s.StartedAt, q.From, q.To) && (q.Site == "" || s.Site == q.Site) &&
					(q.Bot == "" || q.Bot == s.Bot) && (q.Version == "" || q.Version == s.Version) && (q.Channel == "" || q.Channel == s.Channel) {
					total++
					days[s.StartedAt.Format("2006-01-02")]++
					bots[s.Bot]++
				}
			}
			if got.Total != total {
				t.Fatalf("total %d, want %d", got.Total, total)
			}
			var sum, monthSum int64
			for _, d := range got.Days {
				sum += d.Count
				if d.Count != days[d.Key] {
					t.Errorf("day %s: %d, want %d", d.Key, d.Count, days[d.Key])
				}
			}
			for _, m := range got.Months {
				monthSum += m.Count
			}
			if sum != total || monthSum != total {
				t.Errorf("days sum %d, months sum %d, want %d", sum, monthSum, total)
			}
			for _, b := range got.Bots {
				if b.Count != bots[b.Key] {
					t.Errorf("bot %s: %d, want %d", b.Key, b.Count, bots[b.Key])
				}
			}
		})
	}
	t.Run("BadPeriod", func(t *testing.T) {
		_, err := f.s.Usage(context.Background(), UsageQuery{From: end, To: end.Add(-time.Hour)})
		var pe *FieldError
		if !errors.As(err, &pe) || pe.Field != "From" {
			t.Fatalf("got %v", err)
		}
	})
}
