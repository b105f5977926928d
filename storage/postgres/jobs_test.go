package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestLeases: a job's lease goes to the first node that asks; another is
// refused while it runs, its holder renews it; once it expires unrenewed
// the other takes it and the old holder is refused; a release frees it at
// once, but only by its holder. Leases lists the running ones.
func TestLeases(t *testing.T) {
	ctx := context.Background()
	url := postgrestest.URL(t)
	a, b := openURL(t, url), openURL(t, url)
	const ttl = 500 * time.Millisecond
	take := func(st *postgres.Store, holder string, want bool) {
		t.Helper()
		got, err := st.TakeLease(ctx, "idle", holder, ttl)
		if err != nil || got != want {
			t.Fatalf("%s takes: %v, %v; want %v", holder, got, err, want)
		}
	}
	take(a, "node-a", true)
	take(b, "node-b", false)
	take(a, "node-a", true) // a renewal
	ls, err := b.Leases(ctx)
	if err != nil || len(ls) != 1 || ls[0].Job != "idle" || ls[0].Holder != "node-a" || !ls[0].ExpiresAt.After(ls[0].RenewedAt) {
		t.Fatalf("leases: %+v, %v", ls, err)
	}
	taken := ls[0].TakenAt
	time.Sleep(ttl / 2)
	take(a, "node-a", true)
	if ls, _ := b.Leases(ctx); len(ls) != 1 || !ls[0].TakenAt.Equal(taken) || !ls[0].RenewedAt.After(taken) {
		t.Fatalf("a renewal keeps taken_at and moves renewed_at: %+v", ls)
	}
	time.Sleep(ttl / 2)
	take(b, "node-b", false) // renewed half-way: still a's
	time.Sleep(ttl)
	take(b, "node-b", true) // expired: b takes it over
	take(a, "node-a", false)
	if ls, _ := a.Leases(ctx); len(ls) != 1 || ls[0].Holder != "node-b" || !ls[0].TakenAt.After(taken) {
		t.Fatalf("after the take-over: %+v", ls)
	}

	if err := a.ReleaseLease(ctx, "idle", "node-a"); err != nil {
		t.Fatal(err)
	}
	take(a, "node-a", false) // a's release did not free b's lease
	if err := b.ReleaseLease(ctx, "idle", "node-b"); err != nil {
		t.Fatal(err)
	}
	take(a, "node-a", true) // released: free at once
	if _, err := a.TakeLease(ctx, "idle", "node-a", 0); err == nil {
		t.Error("a lease of no time: no error")
	}
}
