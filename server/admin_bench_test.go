package server_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage"
)

// BenchmarkAdmin times the admin API's views over a big seeded store, in
// process (handler, store and JSON, no network), and reports each view's
// p50 and p95. It needs a store directory, seeded on first use and reused
// after, since seeding a million visitors takes a while:
//
//	PARLEY_BENCH_DATA=/tmp/parley-bench-100k PARLEY_BENCH_VISITORS=100000 \
//	    go test ./server -run NONE -bench Admin -benchtime 300x
//
// (or seed it beforehand with `parley seed --visitors N --data DIR`). The
// target: every view at or under 50 ms p95 at 1,000,000 visitors, and no
// more than 1.5 times its time at 100,000.
func BenchmarkAdmin(b *testing.B) {
	dir := os.Getenv("PARLEY_BENCH_DATA")
	if dir == "" {
		b.Skip("set PARLEY_BENCH_DATA to a store directory (seeded on first use with PARLEY_BENCH_VISITORS visitors, default 100000)")
	}
	s, err := server.Open(server.Config{DataDir: dir, AdminToken: admToken})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	get := func(tb testing.TB, path string) []byte {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+admToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			tb.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
		}
		return rec.Body.Bytes()
	}
	var first struct{ Items []json.RawMessage }
	json.Unmarshal(get(b, "/admin/api/users?limit=1"), &first)
	if len(first.Items) == 0 {
		n, _ := strconv.Atoi(os.Getenv("PARLEY_BENCH_VISITORS"))
		if n <= 0 {
			n = 100000
		}
		b.Logf("seeding %d visitors into %s", n, dir)
		start := time.Now()
		st, err := server.Seed(context.Background(), s.Store.(*storage.Store), server.SeedOptions{Visitors: n, Site: "demo", Days: 365, End: time.Now().UTC(), Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded %+v in %s", st, time.Since(start))
	}

	// The deep page: the 21st page of 50 (rows 1,001 to 1,050), reached by
	// following the cursors once; the benchmark then asks for it directly.
	deep := "/admin/api/users?limit=50"
	for range 20 {
		var p struct{ Next *string }
		json.Unmarshal(get(b, deep), &p)
		if p.Next == nil {
			b.Fatal("fewer than 21 pages of visitors")
		}
		deep = "/admin/api/users?limit=50&cursor=" + *p.Next
	}
	yearAgo := time.Now().UTC().AddDate(0, 0, -364).Truncate(24 * time.Hour).Format(time.RFC3339)

	type view struct {
		name string
		path func(i int) string // the i-th request's path
	}
	fixed := func(name, path string) view { return view{name, func(int) string { return path }} }
	var views []view
	for mask := range 8 {
		q := "/admin/api/users?limit=50"
		name := "users"
		for i, f := range []string{"engaged", "files", "inputs"} {
			if mask&(1<<i) != 0 {
				q += "&" + f + "=1"
				name += "+" + f
			}
		}
		views = append(views, fixed(name, q))
	}
	// Pages that start anywhere in the year, so the cache helps little.
	r := rand.New(rand.NewPCG(1, 2))
	anyTime := func() string {
		return time.Now().UTC().Add(-time.Duration(r.Int64N(int64(360 * 24 * time.Hour)))).Format(time.RFC3339)
	}
	views = append(views,
		fixed("users-deep-page", deep),
		fixed("users-last-30-days", "/admin/api/users?limit=50&from="+time.Now().UTC().AddDate(0, 0, -30).Format(time.RFC3339)),
		view{"users-random-to", func(int) string { return "/admin/api/users?limit=50&engaged=1&to=" + anyTime() }},
		fixed("sessions", "/admin/api/sessions?limit=50"),
		view{"sessions-random-to", func(int) string { return "/admin/api/sessions?limit=50&to=" + anyTime() }},
		fixed("sessions-filtered", "/admin/api/sessions?limit=50&bot=demo&goal=lead&tag=pricing&channel=web"),
		fixed("usage-365-days", "/admin/api/usage?from="+yearAgo),
		// The dashboard's status, forms, type and language filters, alone
		// and with the others.
		fixed("sessions-active", "/admin/api/sessions?limit=50&status=active"),
		fixed("sessions-open", "/admin/api/sessions?limit=50&status=open"),
		fixed("sessions-closed", "/admin/api/sessions?limit=50&status=closed"),
		fixed("sessions-forms", "/admin/api/sessions?limit=50&forms=1"),
		fixed("sessions-type", "/admin/api/sessions?limit=50&type=support"),
		fixed("sessions-lang", "/admin/api/sessions?limit=50&lang=fr"),
		fixed("sessions-new-filters-combined", "/admin/api/sessions?limit=50&status=closed&forms=1&type=lead&lang=de&goal=lead&channel=web"),
		view{"sessions-closed-random-to", func(int) string { return "/admin/api/sessions?limit=50&status=closed&lang=de&to=" + anyTime() }},
		// The funnel: a month from now's time of day (a day and an hour cut
		// at each end, read from the per-hour counters and the index) and
		// a year from a midnight (the per-day counters).
		fixed("funnel-30-days", "/admin/api/funnel?bot=demo&from="+time.Now().UTC().AddDate(0, 0, -30).Format(time.RFC3339)),
		fixed("funnel-365-days", "/admin/api/funnel?bot=demo&from="+yearAgo),
		// Insight: the sentiment and unanswered filters, alone and with
		// others, and the Knowledge gaps report over a month and a year.
		fixed("sessions-negative", "/admin/api/sessions?limit=50&sentiment=negative"),
		fixed("sessions-unanswered", "/admin/api/sessions?limit=50&unanswered=1"),
		fixed("sessions-negative-unanswered-bot-channel", "/admin/api/sessions?limit=50&sentiment=negative&unanswered=1&bot=demo&channel=web"),
		fixed("gaps-30-days", "/admin/api/gaps?from="+time.Now().UTC().AddDate(0, 0, -30).Format(time.RFC3339)),
		fixed("gaps-365-days", "/admin/api/gaps?from="+yearAgo),
	)
	for _, v := range views {
		b.Run(v.name, func(b *testing.B) {
			var durs []time.Duration
			for i := 0; b.Loop(); i++ {
				path := v.path(i)
				start := time.Now()
				get(b, path)
				durs = append(durs, time.Since(start))
			}
			slices.Sort(durs)
			pct := func(p float64) float64 {
				return float64(durs[min(len(durs)-1, int(p*float64(len(durs))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.95), "p95-ms")
		})
	}
}
