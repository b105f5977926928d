package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
	"github.com/parley-chat/parley/storage/storagetest"
)

// populatedDataDir is a stopped Parley's data directory holding n
// visitors' conversations (storagetest.Populate).
func populatedDataDir(tb testing.TB, n int) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "data")
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	storagetest.Populate(tb, st, storagetest.Fill{Visitors: n, Seed: 11})
	if err := st.Close(); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// TestMigrate_ThereAndBack copies a stopped Parley's store into
// PostgreSQL and back into a new data directory: both runs check clean,
// `parley check` passes on both copies, and every admin view answers the
// same from the original, from PostgreSQL (serve --store) and from the
// store copied back.
func TestMigrate_ThereAndBack(t *testing.T) {
	src := populatedDataDir(t, 25)
	url := postgrestest.URL(t)
	code, out, errOut := parley(nil, "migrate", "--from-data", src, "--to", url)
	if code != 0 || !strings.Contains(out, "ok: copied and checked") {
		t.Fatalf("to PostgreSQL: exit %d: %s %s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "@localhost") && strings.Contains(url, "password=") {
		t.Error("the output names the password")
	}
	back := filepath.Join(t.TempDir(), "back")
	if code, out, errOut := parley(nil, "migrate", "--from", url, "--to-data", back); code != 0 {
		t.Fatalf("back: exit %d: %s %s", code, out, errOut)
	}
	if code, out, errOut := parley(nil, "check", "--data", back); code != 0 || !strings.Contains(out, "ok:") {
		t.Fatalf("check of the copy: exit %d: %s %s", code, out, errOut)
	}
	// Again: nothing to do, checked again.
	if code, out, errOut := parley(nil, "migrate", "--from-data", src, "--to", url); code != 0 || !strings.Contains(out, "going on") {
		t.Fatalf("again: exit %d: %s %s", code, out, errOut)
	}

	if code, out, errOut := parley(nil, "check", "--store", url); code != 0 || !strings.Contains(out, "ok:") {
		t.Fatalf("check of PostgreSQL: exit %d: %s %s", code, out, errOut)
	}

	// The admin views answer the same from the original, from PostgreSQL
	// and from the store copied back.
	_, a := startAdminServer(t, server.Config{DataDir: src})
	_, p := startAdminServer(t, server.Config{DataDir: t.TempDir(), Store: url})
	_, b := startAdminServer(t, server.Config{DataDir: back})
	var users struct {
		Items []struct{ ID string } `json:"items"`
	}
	paths := []string{"/admin/api/users", "/admin/api/sessions", "/admin/api/gaps?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z",
		"/admin/api/usage?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z", "/admin/api/funnel?bot=demo&from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z",
		"/admin/api/users?q=person1", "/admin/api/sessions?goal=pricing", "/admin/api/inbox", "/admin/api/agents"}
	same := func(path string) []byte {
		t.Helper()
		var bodies [3][]byte
		for i, srv := range []string{a.URL, p.URL, b.URL} {
			resp, body := adminDo(t, http.MethodGet, srv+path)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s from %s: %d %s", path, []string{"the original", "PostgreSQL", "the copy back"}[i], resp.StatusCode, body)
			}
			bodies[i] = withoutClock(t, body)
		}
		if string(bodies[0]) != string(bodies[1]) || string(bodies[0]) != string(bodies[2]) {
			t.Errorf("%s:\noriginal    %s\nPostgreSQL  %s\ncopied back %s", path, bodies[0], bodies[1], bodies[2])
		}
		return bodies[0]
	}
	for _, path := range paths {
		body := same(path)
		if path == "/admin/api/users" {
			if err := json.Unmarshal(body, &users); err != nil || len(users.Items) < 5 {
				t.Fatalf("users: %v %s", err, body)
			}
		}
	}
	for _, u := range users.Items[:5] {
		same("/admin/api/users/" + u.ID)
		same("/admin/api/users/" + u.ID + "/sessions")
	}
}

// withoutClock is an admin answer without what depends on when it was
// asked (how long a conversation has waited), for comparing answers.
func withoutClock(tb testing.TB, body []byte) []byte {
	tb.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return body
	}
	var drop func(any)
	drop = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			delete(v, "waitedSeconds")
			for _, x := range v {
				drop(x)
			}
		case []any:
			for _, x := range v {
				drop(x)
			}
		}
	}
	drop(v)
	out, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestMigrate_Seeded copies a store `parley seed` made (the demo and
// support stories, files) there and back: `parley check` is clean on
// the seeded store, on the way and at the end.
func TestMigrate_Seeded(t *testing.T) {
	src := filepath.Join(t.TempDir(), "seeded")
	if code, out, errOut := parley(nil, "seed", "--data", src, "--visitors", "150"); code != 0 {
		t.Fatalf("seed: exit %d: %s %s", code, out, errOut)
	}
	if code, out, errOut := parley(nil, "check", "--data", src); code != 0 {
		t.Fatalf("check of the seeded store: exit %d: %s %s", code, out, errOut)
	}
	url := postgrestest.URL(t)
	back := filepath.Join(t.TempDir(), "back")
	for _, args := range [][]string{{"--from-data", src, "--to", url}, {"--from", url, "--to-data", back}} {
		if code, out, errOut := parley(nil, append([]string{"migrate"}, args...)...); code != 0 || !strings.Contains(out, " files\n") {
			t.Fatalf("%v: exit %d: %s %s", args, code, out, errOut)
		}
	}
	code, out, errOut := parley(nil, "check", "--data", back)
	if code != 0 || !strings.Contains(out, "150 visitors") {
		t.Fatalf("check of the copy: exit %d: %s %s", code, out, errOut)
	}
}

// TestMigrate_Refuses: bad flags, a source a running Parley holds, a
// destination with other records, and a directory that is not Parley's,
// each with a clear message, nothing written.
func TestMigrate_Refuses(t *testing.T) {
	src := populatedDataDir(t, 2)
	url := postgrestest.URL(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from-data", src}, "say what to copy"},
		{[]string{"--from-data", src, "--to-data", t.TempDir()}, "say what to copy"},
		{[]string{"--from", url, "--to", url}, "say what to copy"},
		{[]string{"--from-data", filepath.Join(t.TempDir(), "none"), "--to", url}, "no such directory"},
		{[]string{"--from-data", src, "--to", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}, "open postgres://nobody@127.0.0.1:1/none"},
	} {
		code, out, errOut := parley(nil, append([]string{"migrate"}, c.args...)...)
		if code == 0 || !strings.Contains(out+errOut, c.want) {
			t.Errorf("%v: exit %d, want %q: %s %s", c.args, code, c.want, out, errOut)
		}
	}

	// A running Parley's store.
	st, err := storage.Open(src, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := parley(nil, "migrate", "--from-data", src, "--to", url)
	st.Close()
	if code == 0 || !strings.Contains(errOut, "running Parley") {
		t.Errorf("running source: exit %d: %s %s", code, out, errOut)
	}

	// A destination with records of its own.
	other := populatedDataDir(t, 1)
	if code, out, errOut := parley(nil, "migrate", "--from-data", src, "--to", url); code != 0 {
		t.Fatalf("into an empty database: exit %d: %s %s", code, out, errOut)
	}
	code, out, errOut = parley(nil, "migrate", "--from-data", other, "--to", url)
	if code == 0 || !strings.Contains(errOut, "not empty") {
		t.Errorf("into a database holding another copy: exit %d: %s %s", code, out, errOut)
	}
	code, out, errOut = parley(nil, "migrate", "--from", url, "--to-data", other)
	if code == 0 || !strings.Contains(errOut, "not empty") {
		t.Errorf("into a store with records: exit %d: %s %s", code, out, errOut)
	}

	// A folder that is not Parley's.
	site := t.TempDir()
	if err := os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>hi</h1>"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = parley(nil, "migrate", "--from", url, "--to-data", site)
	if code == 0 || !strings.Contains(errOut, `"index.html"`) {
		t.Errorf("into a website's folder: exit %d: %s %s", code, out, errOut)
	}
	if entries, _ := os.ReadDir(site); len(entries) != 1 {
		t.Errorf("the website's folder now holds %d entries", len(entries))
	}
}

// TestMigrate_Figure times a copy of PARLEY_MIGRATE_VISITORS visitors
// there and back (the README's figure); skipped without it.
func TestMigrate_Figure(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PARLEY_MIGRATE_VISITORS"))
	if n <= 0 {
		t.Skip("PARLEY_MIGRATE_VISITORS=N times a copy of N visitors")
	}
	src := populatedDataDir(t, n)
	url := postgrestest.URL(t)
	for _, args := range [][]string{
		{"--from-data", src, "--to", url},
		{"--from", url, "--to-data", filepath.Join(t.TempDir(), "back")},
	} {
		start := time.Now()
		code, out, errOut := parley(nil, append([]string{"migrate"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s %s", code, out, errOut)
		}
		t.Logf("%s: %s\n%s", args[0], time.Since(start).Round(100*time.Millisecond), out)
	}
}
