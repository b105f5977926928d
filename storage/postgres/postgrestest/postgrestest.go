// Package postgrestest gives each test a database of its own on a real
// PostgreSQL server.
package postgrestest

import (
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ServerEnv names the variable holding the server's URL for tests; its
// default is the local server's Unix socket as root.
const ServerEnv = "PARLEY_TEST_POSTGRES"

const defaultServer = "postgres:///postgres?host=/var/run/postgresql"

// How to start one, for the skip message.
const howTo = "start PostgreSQL with `make postgres` (as root: apt-get install postgresql, " +
	"pg_ctlcluster --skip-systemctl-redirect 15 main start, a role named root), or set " + ServerEnv

// testDatabase holds the tests' schemas: one database, made once.
const testDatabase = "parley_test"

// URL creates an empty schema for the test in the server's parley_test
// database, dropped when the test ends, and returns a URL whose
// connections use it (search_path) and are named after it
// (application_name), so the cleanup can end those a test left open. A
// schema is made and dropped in milliseconds where a database takes a
// second. A test's commits do not wait for the disk (synchronous_commit
// off: nothing here outlives the server); a benchmark's do. Without a
// reachable server the test is skipped, except under CI=true, where it
// fails.
func URL(tb testing.TB) string {
	tb.Helper()
	server := os.Getenv(ServerEnv)
	if server == "" {
		server = defaultServer
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("postgrestest: no PostgreSQL at %s: %v", server, err)
		}
		tb.Skipf("postgrestest: no PostgreSQL at %s (%v): %s", server, err, howTo)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+testDatabase); err != nil && !isDuplicate(err) {
		tb.Fatalf("postgrestest: create database: %v", err)
	}
	u, err := url.Parse(server)
	if err != nil {
		tb.Fatalf("postgrestest: %s: %v", ServerEnv, err)
	}
	u.Path = "/" + testDatabase
	admin := u.String()
	schema := "t_" + strings.ToLower(rand.Text()[:16])
	if err := execOn(ctx, admin, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("postgrestest: create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		err := execOn(ctx, admin,
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '"+schema+"' AND pid <> pg_backend_pid()",
			"DROP SCHEMA "+schema+" CASCADE")
		if err != nil {
			tb.Errorf("postgrestest: drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", schema)
	if _, bench := tb.(*testing.B); !bench {
		q.Set("synchronous_commit", "off")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// execOn runs the statements on a connection of their own to url.
func execOn(ctx context.Context, url string, sqls ...string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, sql := range sqls {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return err
		}
	}
	return nil
}

// isDuplicate reports whether err says the database exists already (a
// test of another package made it meanwhile).
func isDuplicate(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42P04" || pe.Code == "23505")
}
