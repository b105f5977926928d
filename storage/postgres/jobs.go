package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Job leases (migrations/0008_jobs.sql): the node holding a job's lease
// runs the job (package lease); it renews the lease well before it
// expires, and a lease left to expire (its node died, or lost the
// database) is taken by the next node to ask. Both are one statement on
// the database's clock, so the nodes' clocks need not agree.

// sqlTakeLease takes job $1 for holder $2 until $3 microseconds from now:
// a new lease, an expired one, or the holder's own (a renewal). No row
// comes back when another holder's lease runs yet.
const sqlTakeLease = `INSERT INTO job_leases AS l (job, holder, taken_at, renewed_at, expires_at)
	VALUES ($1, $2, now(), now(), now() + $3::bigint * interval '1 microsecond')
	ON CONFLICT (job) DO UPDATE SET
		holder = excluded.holder,
		taken_at = CASE WHEN l.holder = excluded.holder THEN l.taken_at ELSE excluded.taken_at END,
		renewed_at = excluded.renewed_at,
		expires_at = excluded.expires_at
	WHERE l.holder = excluded.holder OR l.expires_at <= now()
	RETURNING holder`

// sqlReleaseLease frees job $1 if holder $2 has it.
const sqlReleaseLease = `DELETE FROM job_leases WHERE job = $1 AND holder = $2`

// sqlLeases lists the leases that run yet, by job.
const sqlLeases = `SELECT job, holder, taken_at, renewed_at, expires_at FROM job_leases
	WHERE expires_at > now() ORDER BY job`

// TakeLease takes job's lease for holder until ttl from now by the
// database's clock, or renews it when holder has it; false when another
// holder's lease has not expired. Errors of the connection are
// storage.ErrUnavailable.
func (s *Store) TakeLease(ctx context.Context, job, holder string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("postgres: take lease %s: ttl %v: want more than 0", job, ttl)
	}
	var got string
	err := s.pool.QueryRow(ctx, sqlTakeLease, job, holder, ttl.Microseconds()).Scan(&got)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("postgres: take lease %s: %w", job, unavailable(err))
	}
	return true, nil
}

// ReleaseLease frees job's lease if holder has it, so another node may
// take the job at once rather than when the lease expires.
func (s *Store) ReleaseLease(ctx context.Context, job, holder string) error {
	if _, err := s.pool.Exec(ctx, sqlReleaseLease, job, holder); err != nil {
		return fmt.Errorf("postgres: release lease %s: %w", job, unavailable(err))
	}
	return nil
}

// Lease is a job's lease as stored.
type Lease struct {
	Job, Holder string
	TakenAt     time.Time // when Holder took it
	RenewedAt   time.Time // its latest renewal
	ExpiresAt   time.Time // free after this unless renewed
}

// Leases lists the leases that have not expired, by job: which node runs
// what.
func (s *Store) Leases(ctx context.Context) ([]Lease, error) {
	rows, _ := s.pool.Query(ctx, sqlLeases)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Lease, error) {
		var l Lease
		err := row.Scan(&l.Job, &l.Holder, &l.TakenAt, &l.RenewedAt, &l.ExpiresAt)
		l.TakenAt, l.RenewedAt, l.ExpiresAt = l.TakenAt.UTC(), l.RenewedAt.UTC(), l.ExpiresAt.UTC()
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: leases: %w", unavailable(err))
	}
	return out, nil
}
