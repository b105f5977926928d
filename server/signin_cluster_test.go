package server_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestPostgres_SignInFailuresClusterWide: two nodes on one PostgreSQL
// store share the failed sign-in budget of an address. Wrong tokens spread
// over both get 401 ten times, then 429 on either node (with Retry-After),
// agents' sign-ins included; the right token still passes on both.
// Concurrent wrong tokens to both nodes count ten, no more.
func TestPostgres_SignInFailuresClusterWide(t *testing.T) {
	url := postgrestest.URL(t)
	_, a := startAdminServer(t, server.Config{Store: url})
	_, b := startAdminServer(t, server.Config{Store: url})
	nodes := []string{a.URL, b.URL}

	for i := range 10 {
		if got, _ := tokenStatus(t, nodes[i%2], "wrong"); got != http.StatusUnauthorized {
			t.Fatalf("failure %d (node %d): %d, want 401", i+1, i%2+1, got)
		}
	}
	for n, base := range nodes {
		got, resp := tokenStatus(t, base, "wrong")
		if got != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Errorf("node %d after 10 failures over both: %d (Retry-After %q), want 429 with Retry-After", n+1, got, resp.Header.Get("Retry-After"))
		}
		if got, _ := tokenStatus(t, base, adminToken); got != http.StatusOK {
			t.Errorf("node %d: the right token from the blocked address: %d, want 200", n+1, got)
		}
		if status, body := hoCall(t, nil, "POST", base+"/admin/api/signin", "", map[string]string{"name": "ann", "secret": "guess"}); status != http.StatusTooManyRequests {
			t.Errorf("node %d: an agent sign-in from the blocked address: %d %s, want 429", n+1, status, body)
		}
	}

	t.Run("Concurrent", func(t *testing.T) {
		url := postgrestest.URL(t)
		_, a := startAdminServer(t, server.Config{Store: url})
		_, b := startAdminServer(t, server.Config{Store: url})
		var mu sync.Mutex
		counts := map[int]int{}
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				base := a.URL
				if i%2 == 1 {
					base = b.URL
				}
				got, _ := tokenStatus(t, base, "wrong")
				mu.Lock()
				counts[got]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if counts[http.StatusUnauthorized] != 10 || counts[http.StatusTooManyRequests] != 30 {
			t.Errorf("40 concurrent wrong tokens over two nodes: %v, want 10 × 401 and 30 × 429", counts)
		}
	})
}

// TestPostgres_SignInFailuresStoreDown: while PostgreSQL does not answer,
// a wrong token cannot be counted and gets 503 unavailable (closed, not
// open); the right token still passes. Back, failures count again.
func TestPostgres_SignInFailuresStoreDown(t *testing.T) {
	db := postgrestest.NewCluster(t)
	_, ts := startAdminServer(t, server.Config{Store: db.URL()})
	if got, _ := tokenStatus(t, ts.URL, "wrong"); got != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %d, want 401", got)
	}
	db.Stop(t)
	got, resp := tokenStatus(t, ts.URL, "wrong")
	if got != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a wrong token while the store is down: %d, want 503 with Retry-After", got)
	}
	if got, _ := tokenStatus(t, ts.URL, adminToken); got != http.StatusOK {
		t.Errorf("the right token while the store is down: %d, want 200", got)
	}
	if status, body := hoCall(t, nil, "POST", ts.URL+"/admin/api/signin", "", map[string]string{"name": "ann", "secret": "guess"}); status != http.StatusServiceUnavailable || !strings.Contains(string(body), `"unavailable"`) {
		t.Errorf("an agent sign-in while the store is down: %d %s, want 503 unavailable", status, body)
	}
	db.Start(t)
	waitUntil(t, 20*time.Second, "a wrong token counted again", func() bool {
		got, _ := tokenStatus(t, ts.URL, "wrong")
		return got == http.StatusUnauthorized
	})
}

// tokenStatus asks GET /admin/api/me with token and returns the status.
func tokenStatus(tb testing.TB, base, token string) (int, *http.Response) {
	tb.Helper()
	req, _ := http.NewRequest("GET", base+"/admin/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp
}
