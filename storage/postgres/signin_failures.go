package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Failed sign-ins per client address, for every node of the store
// (migrations/0008_jobs.sql): a token bucket kept as clear_at, the time the
// address has its whole budget back. An address may fail while clear_at
// is at most the window less one step ahead of now; each failure counted
// moves clear_at a step later, from now at the earliest. The database's
// clock decides, so nodes whose clocks differ still share one budget.

// sqlSignInFail counts a failure of $1, or refuses it when the address has
// none left: $2 is one step, $3 the window less one step, in microseconds.
// The old row's values are read by the SET's right-hand sides; RETURNING
// sees this statement's own update (the row is locked for it), so
// concurrent failures are counted one after the other.
const sqlSignInFail = `INSERT INTO signin_failures AS f (address, clear_at, failures, refused, last_refused, last_at)
	VALUES ($1, now() + $2::bigint * interval '1 microsecond', 1, 0, false, now())
	ON CONFLICT (address) DO UPDATE SET
		last_refused = f.clear_at > now() + $3::bigint * interval '1 microsecond',
		clear_at = CASE WHEN f.clear_at > now() + $3::bigint * interval '1 microsecond' THEN f.clear_at
			ELSE GREATEST(f.clear_at, now()) + $2::bigint * interval '1 microsecond' END,
		failures = f.failures + CASE WHEN f.clear_at > now() + $3::bigint * interval '1 microsecond' THEN 0 ELSE 1 END,
		refused = f.refused + CASE WHEN f.clear_at > now() + $3::bigint * interval '1 microsecond' THEN 1 ELSE 0 END,
		last_at = now()
	RETURNING last_refused, EXTRACT(EPOCH FROM clear_at - (now() + $3::bigint * interval '1 microsecond'))::float8`

// sqlSignInWait is how long $1 must wait before it may fail again, in
// seconds (0 or less: it may); $2 is the window less one step.
const sqlSignInWait = `SELECT EXTRACT(EPOCH FROM clear_at - (now() + $2::bigint * interval '1 microsecond'))::float8
	FROM signin_failures WHERE address = $1`

// sqlSignInClear deletes the rows of the addresses with their whole
// budget back (signin_failures_by_clear_at).
const sqlSignInClear = `DELETE FROM signin_failures WHERE clear_at < now()`

// SignInFailures is the failed sign-in budget of every node on one store:
// admin.FailureLimiter's cluster-wide implementation.
//
// A node remembers until when the store said an address must wait, and
// answers for it meanwhile without asking: a refusal changes nothing in
// the store, and nothing but time makes an address's wait shorter, so the
// answer is the store's. An attacker flooding a node with wrong tokens
// costs the database one statement per address per step, not one per
// request.
type SignInFailures struct {
	s *Store
	// step is the time to regain one failure; rest is the window less
	// one step.
	step, rest time.Duration

	mu      sync.Mutex
	waiting map[string]time.Time // address → until when the store said it waits
}

// maxWaiting bounds the addresses a node remembers as waiting; past it
// those whose wait is over are forgotten first, then all.
const maxWaiting = 10000

// SignInFailures returns the store's failed sign-in count with burst
// failures per address, regained over window.
func (s *Store) SignInFailures(burst int, window time.Duration) *SignInFailures {
	step := window / time.Duration(max(burst, 1))
	return &SignInFailures{s: s, step: step, rest: window - step, waiting: map[string]time.Time{}}
}

// Blocked returns how long addr must wait before it may try again, 0 if
// it may now.
func (f *SignInFailures) Blocked(ctx context.Context, addr string) (time.Duration, error) {
	if wait := f.known(addr); wait > 0 {
		return wait, nil
	}
	var secs float64
	err := f.s.pool.QueryRow(ctx, sqlSignInWait, addr, f.rest.Microseconds()).Scan(&secs)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: sign-in failures: %w", unavailable(err))
	}
	return f.remember(addr, positive(secs)), nil
}

// Fail counts a failed sign-in from addr and returns 0, or, when addr has
// no failure left, counts nothing and returns how long it must wait.
func (f *SignInFailures) Fail(ctx context.Context, addr string) (time.Duration, error) {
	if wait := f.known(addr); wait > 0 {
		return wait, nil
	}
	var refused bool
	var secs float64
	err := f.s.pool.QueryRow(ctx, sqlSignInFail, addr, f.step.Microseconds(), f.rest.Microseconds()).Scan(&refused, &secs)
	if err != nil {
		return 0, fmt.Errorf("postgres: sign-in failure: %w", unavailable(err))
	}
	if !refused {
		return 0, nil
	}
	return f.remember(addr, max(positive(secs), time.Microsecond)), nil
}

// known returns how long addr still waits as the store last said, 0 if
// it does not (or nobody said).
func (f *SignInFailures) known(addr string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	until, ok := f.waiting[addr]
	if !ok {
		return 0
	}
	wait := time.Until(until)
	if wait <= 0 {
		delete(f.waiting, addr)
		return 0
	}
	return wait
}

// remember notes that addr waits for wait from now, and returns wait.
func (f *SignInFailures) remember(addr string, wait time.Duration) time.Duration {
	if wait <= 0 {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.waiting) >= maxWaiting {
		now := time.Now()
		for a, until := range f.waiting {
			if !until.After(now) {
				delete(f.waiting, a)
			}
		}
		if len(f.waiting) >= maxWaiting {
			clear(f.waiting) // the store still knows: it is asked again
		}
	}
	f.waiting[addr] = time.Now().Add(wait)
	return wait
}

// positive is secs as a duration, 0 when not positive.
func positive(secs float64) time.Duration {
	if secs <= 0 {
		return 0
	}
	return time.Duration(secs * float64(time.Second))
}

// DeleteClearSignInFailures deletes the failed sign-in counts of the
// addresses that have their whole budget back (they would answer as no
// row does) and returns how many; the maintenance job calls it.
func (s *Store) DeleteClearSignInFailures(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, sqlSignInClear)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete clear sign-in failures: %w", unavailable(err))
	}
	return tag.RowsAffected(), nil
}
