package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

func TestOpen_Migrates(t *testing.T) {
	url := postgrestest.URL(t)
	ctx := context.Background()

	// Two nodes starting together: both end at the current version.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			st, err := postgres.Open(ctx, url, postgres.Options{})
			if err == nil {
				st.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
	}
	if got, want := schemaVersions(t, url), postgres.SchemaVersion(); got != want {
		t.Fatalf("schema rows: got %d, want %d", got, want)
	}

	t.Run("NewerSchema", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `INSERT INTO parley_schema (version, name) VALUES ($1, 'from the future')`, postgres.SchemaVersion()+1); err != nil {
			t.Fatal(err)
		}
		_, err = postgres.Open(ctx, url, postgres.Options{})
		if !errors.Is(err, postgres.ErrNewerSchema) {
			t.Fatalf("Open of a newer schema: got %v, want ErrNewerSchema", err)
		}
	})
}

func schemaVersions(t *testing.T, url string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM parley_schema`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
