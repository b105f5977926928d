package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// querier is what a query runs on: the pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// zeroTime scans a nullable timestamptz into a time.Time, NULL as the
// zero time (a time that has not happened: a visitor who never typed).
type zeroTime struct{ t *time.Time }

// ScanTimestamptz makes zeroTime a pgx scan target.
func (z zeroTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	*z.t = time.Time{}
	if v.Valid {
		*z.t = v.Time.UTC()
	}
	return nil
}

// orNull writes the zero time as NULL.
func orNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// Precision is what PostgreSQL keeps of a time: microseconds. The engine
// stores and returns times truncated to it, so a record read back equals
// the one written.
const Precision = time.Microsecond

// utc is t as stored: truncated to Precision, in UTC.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(Precision).UTC()
}
