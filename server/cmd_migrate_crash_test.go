//go:build unix

package server_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
	"github.com/parley-chat/parley/storage/storagetest"
)

// TestMigrate_KillNine kills the real binary with SIGKILL half-way
// through a copy, each way, and runs the same command again: it goes on
// where the destination's mark says, and the result is the same as a copy
// never stopped (into PostgreSQL: every record of the stream; back into
// Badger: every key of the original store), checked clean.
func TestMigrate_KillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ctx := context.Background()
	bin := buildParley(t)
	const visitors = 600
	src := populatedDataDir(t, visitors)

	whole := postgrestest.URL(t)
	if code, out, errOut := parley(nil, "migrate", "--from-data", src, "--to", whole); code != 0 {
		t.Fatalf("a whole copy: exit %d: %s %s", code, out, errOut)
	}

	// Into PostgreSQL, killed once some visitors are in.
	url := postgrestest.URL(t)
	c := startChild(t, bin, nil, nil, "migrate", "--from-data", src, "--to", url)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		err := conn.QueryRow(ctx, `SELECT visitors FROM parley_copy`).Scan(&n)
		if err == nil && n >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress in a minute (%v); output:\n%s", err, c.out)
		}
		time.Sleep(2 * time.Millisecond)
	}
	c.kill9(t)
	var n int
	var done bool
	if err := conn.QueryRow(ctx, `SELECT visitors, done FROM parley_copy`).Scan(&n, &done); err != nil || done || n >= visitors {
		t.Fatalf("killed after %d visitors, done %v (%v): make the store bigger", n, done, err)
	}
	// Half a store is not served.
	if code, _, errOut := parley(map[string]string{"PARLEY_ADMIN_TOKEN": adminToken}, "serve", "--addr", freeAddr(t), "--data", t.TempDir(), "--store", url); code == 0 || !strings.Contains(errOut, "has not finished") {
		t.Errorf("serve of a half-copied store: exit %d, %s", code, errOut)
	}
	code, out, errOut := parley(nil, "migrate", "--from-data", src, "--to", url)
	if code != 0 || !strings.Contains(out, "going on") {
		t.Fatalf("run again: exit %d: %s %s", code, out, errOut)
	}
	t.Logf("killed after %d of %d visitors", n, visitors)
	if a, b := streamOf(t, whole), streamOf(t, url); a != b {
		t.Fatalf("the copy killed and run again differs from the whole one")
	}

	// Back into Badger, killed a moment after the copy began. (Killed
	// while Badger creates a new store's first files, before the copy
	// begins, the store cannot be opened again: Badger refuses its empty
	// value log.)
	back := filepath.Join(t.TempDir(), "back")
	c = startChild(t, bin, nil, nil, "migrate", "--from", url, "--to-data", back)
	for deadline := time.Now().Add(time.Minute); !strings.Contains(c.out.String(), "copying "); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the copy did not begin in a minute; output:\n%s", c.out)
		}
	}
	time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
	c.kill9(t)
	if code, out, errOut := parley(nil, "migrate", "--from", url, "--to-data", back); code != 0 {
		t.Fatalf("run back again: exit %d: %s %s", code, out, errOut)
	}
	if code, out, errOut := parley(nil, "check", "--data", back); code != 0 {
		t.Fatalf("check: exit %d: %s %s", code, out, errOut)
	}
	a, b := openStopped(t, src), openStopped(t, back)
	da, db := storagetest.Dump(t, a, ""), storagetest.Dump(t, b, "")
	for k, va := range da {
		if strings.HasPrefix(k, "meta/") || storagetest.FunnelCounter(k) { // the counters: Verify checks them
			continue
		}
		if vb, ok := db[k]; !ok || string(va) != string(vb) {
			t.Fatalf("%q: %q, copied back %q", k, va, vb)
		}
	}
	for k := range db {
		if _, ok := da[k]; !ok && !strings.HasPrefix(k, "meta/") && !storagetest.FunnelCounter(k) {
			t.Fatalf("%q only in the store copied back", k)
		}
	}
}

// streamOf is every record of the database's stream, as JSON.
func streamOf(tb testing.TB, url string) string {
	tb.Helper()
	ctx := context.Background()
	st, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	err = st.DumpVisitors(ctx, "", func(d *storage.VisitorDump) error { return enc.Encode(d) })
	if err != nil {
		tb.Fatal(err)
	}
	sd, err := st.DumpStore(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if err := enc.Encode(sd); err != nil {
		tb.Fatal(err)
	}
	return b.String()
}

// openStopped opens a stopped Parley's store for the test to read.
func openStopped(tb testing.TB, dir string) *storage.Store {
	tb.Helper()
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}
