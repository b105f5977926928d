package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are the schema's steps, NNNN_name.sql, applied in order. A
// step, once released, is never edited: a change is a new step.
//
//go:embed migrations/*.sql
var migrations embed.FS

// step is one migration: its version (the file's number) and its SQL.
type step struct {
	version int
	name    string
	sql     string
}

// steps lists the migrations in version order.
func steps() ([]step, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []step
	for _, name := range names {
		base := path.Base(name)
		num, label, ok := strings.Cut(strings.TrimSuffix(base, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration %s: want NNNN_name.sql", base)
		}
		b, err := migrations.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, step{version: v, name: label, sql: string(b)})
	}
	slices.SortFunc(out, func(a, b step) int { return a.version - b.version })
	for i, s := range out {
		if s.version != i+1 {
			return nil, fmt.Errorf("postgres: migration %d is missing", i+1)
		}
	}
	return out, nil
}

// SchemaVersion is the schema version this Parley writes: its last
// migration.
func SchemaVersion() int {
	s, err := steps()
	if err != nil {
		panic(err) // the embedded files are part of the build
	}
	return len(s)
}

// ErrNewerSchema is returned by Open when the database was migrated by a
// newer Parley than this one.
var ErrNewerSchema = errors.New("postgres: the database's schema is newer than this Parley")

// migrate brings the database's schema to SchemaVersion, applying each
// missing step in its own transaction with its row in parley_schema, so a
// crash leaves the schema at a version, never between two. Two nodes
// starting together both try; the second's insert of the same version
// fails and it reads again.
func migrate(ctx context.Context, pool *pgxpool.Pool) (applied int, err error) {
	all, err := steps()
	if err != nil {
		return 0, err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS parley_schema (
		version    INT PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`); err != nil && !isUniqueViolation(err) {
		// (A node starting at the same moment may create it first: its
		// type's name then collides, and the table is there.)
		return 0, fmt.Errorf("postgres: migrate: %w", err)
	}
	for attempt := 0; ; attempt++ {
		var have int
		if err := pool.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM parley_schema`).Scan(&have); err != nil {
			return applied, fmt.Errorf("postgres: migrate: %w", err)
		}
		if have > len(all) {
			return applied, fmt.Errorf("%w: it is version %d, this Parley knows versions up to %d; run a Parley at least as new as the one that migrated it", ErrNewerSchema, have, len(all))
		}
		if have == len(all) {
			return applied, nil
		}
		s := all[have]
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO parley_schema (version, name) VALUES ($1, $2)`, s.version, s.name); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, s.sql)
			return err
		})
		switch {
		case err == nil:
			applied++
		case isUniqueViolation(err) && attempt < len(all)+3:
			// Another node applied this step meanwhile.
		default:
			return applied, fmt.Errorf("postgres: migrate to version %d (%s): %w", s.version, s.name, err)
		}
	}
}

// ErrSchemaVersion is returned by a read-only Open of a database whose
// schema is not this Parley's version.
var ErrSchemaVersion = errors.New("postgres: the database's schema is not this Parley's version")

// checkSchema makes sure the database's schema is SchemaVersion, without
// writing.
func checkSchema(ctx context.Context, pool *pgxpool.Pool) error {
	var have int
	err := pool.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM parley_schema`).Scan(&have)
	if err != nil {
		return fmt.Errorf("postgres: check the schema (is this a Parley database?): %w", err)
	}
	if want := SchemaVersion(); have != want {
		return fmt.Errorf("%w: it is version %d, this Parley's is %d; `parley serve` with the matching Parley migrates it", ErrSchemaVersion, have, want)
	}
	return nil
}
