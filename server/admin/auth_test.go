package admin_test

import (
	"net/http"
	"testing"
)

// TestGuard_FailuresPerAddressNotPerConnection: by default the failed
// sign-ins count per client IP, so new connections (new source ports)
// from one address share one budget.
func TestGuard_FailuresPerAddressNotPerConnection(t *testing.T) {
	_, ts, _ := newServer(t)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	status := func() int {
		req, _ := http.NewRequest("GET", ts.URL+"/admin/api/users", nil)
		req.Header.Set("Authorization", "Bearer wrong")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 10 {
		if got := status(); got != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, got)
		}
	}
	if got := status(); got != http.StatusTooManyRequests {
		t.Errorf("the 11th failure on its own connection: %d, want 429", got)
	}
}
