// Package postgrestest gives each test a database of its own on a real
// PostgreSQL server.
package postgrestest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ServerEnv names the variable holding the server's URL for tests; its
// default is the local server's Unix socket as root.
const ServerEnv = "PARLEY_TEST_POSTGRES"

const defaultServer = "postgres:///postgres?host=/var/run/postgresql"

// How to start one, for the skip message.
const howTo = "start PostgreSQL with `make postgres` (as root: apt-get install postgresql, " +
	"pg_ctlcluster --skip-systemctl-redirect 15 main start, a role named root), or set " + ServerEnv

// URL creates an empty database for the test, dropped when it ends, and
// returns its URL. Without a reachable server the test is skipped, except
// under CI=true, where it fails.
func URL(tb testing.TB) string {
	tb.Helper()
	server := os.Getenv(ServerEnv)
	if server == "" {
		server = defaultServer
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("postgrestest: no PostgreSQL at %s: %v", server, err)
		}
		tb.Skipf("postgrestest: no PostgreSQL at %s (%v): %s", server, err, howTo)
	}
	defer conn.Close(ctx)
	name := "parley_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("postgrestest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			tb.Errorf("postgrestest: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("postgrestest: drop database %s: %v", name, err)
		}
	})
	return withDatabase(tb, server, name)
}

// withDatabase returns the server's URL naming the database instead.
func withDatabase(tb testing.TB, server, name string) string {
	u, err := url.Parse(server)
	if err != nil {
		tb.Fatalf("postgrestest: %s: %v", ServerEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}
