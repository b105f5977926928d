package postgres_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// TestSignInFailures: an address has its burst of failures, then each
// further one is refused with the wait until it regains one, and nothing
// more is counted; it regains them over the window; two stores (two nodes)
// on one database share the budget, and concurrent failures from both
// count exactly the burst; rows of addresses with their whole budget back
// are deleted by the maintenance job's DeleteClearSignInFailures. A node
// told an address must wait answers for it without asking the store.
func TestSignInFailures(t *testing.T) {
	ctx := context.Background()
	url := postgrestest.URL(t)
	a, b := openURL(t, url), openURL(t, url)
	const burst, window = 4, 4 * time.Second // a step of 1 s: room for a busy machine
	fa, fb := a.SignInFailures(burst, window), b.SignInFailures(burst, window)

	t.Run("Burst", func(t *testing.T) {
		for i := range burst {
			f := fa
			if i%2 == 1 {
				f = fb // the other node
			}
			if wait, err := f.Fail(ctx, "192.0.2.1"); err != nil || wait != 0 {
				t.Fatalf("failure %d: wait %v, %v; want counted", i+1, wait, err)
			}
		}
		for _, f := range []*postgres.SignInFailures{fa, fb} {
			wait, err := f.Fail(ctx, "192.0.2.1")
			if err != nil || wait <= 0 || wait > window/burst {
				t.Fatalf("failure past the burst: wait %v, %v; want 0 < wait ≤ %v", wait, err, window/burst)
			}
			if blocked, err := f.Blocked(ctx, "192.0.2.1"); err != nil || blocked <= 0 {
				t.Fatalf("Blocked: %v, %v; want a wait", blocked, err)
			}
		}
		if wait, err := fa.Blocked(ctx, "192.0.2.2"); err != nil || wait != 0 {
			t.Fatalf("another address: Blocked %v, %v", wait, err)
		}
		var failures, refused int
		var lastRefused bool
		if err := queryRow(t, url, `SELECT failures, refused, last_refused FROM signin_failures WHERE address = '192.0.2.1'`,
			&failures, &refused, &lastRefused); err != nil {
			t.Fatal(err)
		}
		if failures != burst || refused != 2 || !lastRefused {
			t.Errorf("row: %d failures, %d refused, last refused %v; want %d, 2, true", failures, refused, lastRefused, burst)
		}
		// A node that was told to wait answers for the store meanwhile:
		// a flood of wrong tokens costs the database nothing more.
		for range 50 {
			if wait, err := fa.Fail(ctx, "192.0.2.1"); err != nil || wait <= 0 {
				t.Fatalf("a flood's failure: wait %v, %v", wait, err)
			}
		}
		if err := queryRow(t, url, `SELECT refused FROM signin_failures WHERE address = '192.0.2.1'`, &refused); err != nil || refused != 2 {
			t.Errorf("after a flood of 50 on a node told to wait: %d refused in the store, %v; want still 2", refused, err)
		}
		// One step later the address has one failure again, and one only.
		time.Sleep(window / burst)
		if wait, err := fb.Fail(ctx, "192.0.2.1"); err != nil || wait != 0 {
			t.Fatalf("after a step: wait %v, %v; want counted", wait, err)
		}
		if wait, _ := fa.Fail(ctx, "192.0.2.1"); wait <= 0 {
			t.Fatalf("a second failure after one step was counted")
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		// A minute's window: no failure is regained while they run, however
		// busy the machine.
		fa, fb := a.SignInFailures(burst, time.Minute), b.SignInFailures(burst, time.Minute)
		var mu sync.Mutex
		counted := 0
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				f := fa
				if i%2 == 1 {
					f = fb
				}
				wait, err := f.Fail(ctx, "198.51.100.7")
				if err != nil {
					t.Error(err)
				}
				if wait == 0 {
					mu.Lock()
					counted++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if counted != burst {
			t.Errorf("40 concurrent failures on two nodes: %d counted, want %d", counted, burst)
		}
	})

	t.Run("Clear", func(t *testing.T) {
		if _, err := fa.Fail(ctx, "203.0.113.9"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.DeleteClearSignInFailures(ctx); err != nil {
			t.Fatal(err)
		}
		if got := addresses(t, url); !slices.Contains(got, "203.0.113.9") {
			t.Fatalf("an address inside its window was deleted: %v left", got)
		}
		time.Sleep(window + window/burst)
		if _, err := a.DeleteClearSignInFailures(ctx); err != nil {
			t.Fatal(err)
		}
		// The concurrent test's address has a minute's window.
		if got := addresses(t, url); !slices.Equal(got, []string{"198.51.100.7"}) {
			t.Fatalf("after the window: %v left, want only the one with a minute's window", got)
		}
		if wait, err := fa.Blocked(ctx, "192.0.2.1"); err != nil || wait != 0 {
			t.Fatalf("a deleted address: Blocked %v, %v", wait, err)
		}
	})
}

// addresses lists the addresses signin_failures has rows of.
func addresses(tb testing.TB, url string) []string {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT address FROM signin_failures ORDER BY address`)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// queryRow runs sql on its own connection to url and scans its one row.
func queryRow(tb testing.TB, url, sql string, dest ...any) error {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql).Scan(dest...)
}
