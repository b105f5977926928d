package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage"
)

// dirSnapshot lists every file under dir with its mode, size and content,
// to show that a command wrote nothing.
func dirSnapshot(tb testing.TB, dir string) string {
	tb.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d", strings.TrimPrefix(p, dir), info.Mode(), info.Size())
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", b)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// parley runs a parley command in-process and returns its exit code,
// stdout and stderr.
func parley(env map[string]string, args ...string) (int, string, string) {
	var out, errOut syncBuffer
	code := server.Main(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

// newDataDir makes a stopped Parley's data directory with one visitor's
// conversation in it, as `parley serve` leaves it.
func newDataDir(tb testing.TB) string {
	tb.Helper()
	data := filepath.Join(tb.TempDir(), "data")
	s, ts := startAdminServer(tb, server.Config{DataDir: data})
	c := newStoryClient(ts.URL, "ada")
	c.story(tb, context.Background())
	c.close()
	ts.Close()
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	return data
}

// TestCheck_ReadOnly shows that `parley check` and `parley restore --force`
// leave a directory that is not Parley's untouched, and that a real store
// still checks clean (without being written) and restores.
func TestCheck_ReadOnly(t *testing.T) {
	data := newDataDir(t)
	full := filepath.Join(t.TempDir(), "full.backup")
	before := dirSnapshot(t, data)
	if code, _, errOut := parley(nil, "backup", "--data", data, "--out", full); code != 0 {
		t.Fatalf("backup: exit %d: %s", code, errOut)
	}
	if after := dirSnapshot(t, data); after != before {
		t.Errorf("backup --data wrote into the data directory:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	website := func(t *testing.T) string {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>Bikes</h1>"), 0o644)
		os.Mkdir(filepath.Join(dir, "css"), 0o755)
		os.WriteFile(filepath.Join(dir, "css", "site.css"), []byte("h1{color:red}"), 0o644)
		return dir
	}
	refused := func(t *testing.T, dir, want string, args ...string) {
		t.Helper()
		before := dirSnapshot(t, dir)
		code, out, errOut := parley(nil, args...)
		if code == 0 || !strings.Contains(errOut, want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want a refusal saying %q", args, code, out, errOut, want)
		}
		if after := dirSnapshot(t, dir); after != before {
			t.Errorf("%v changed the directory:\nbefore:\n%s\nafter:\n%s", args, before, after)
		}
	}

	t.Run("Website", func(t *testing.T) {
		dir := website(t)
		refused(t, dir, "not a Parley data directory", "check", "--data", dir)
		refused(t, dir, "not a Parley data directory", "restore", "--in", full, "--data", dir, "--force")
		refused(t, dir, "not a Parley data directory", "backup", "--data", dir, "--out", filepath.Join(t.TempDir(), "x.backup"))
	})
	t.Run("WebsiteWithBadgerFiles", func(t *testing.T) {
		// What an older `parley check` left in a website's folder.
		dir := website(t)
		st, err := storage.Open(dir, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		refused(t, dir, `"index.html"`, "check", "--data", dir)
		refused(t, dir, `"index.html"`, "restore", "--in", full, "--data", dir, "--force")
	})
	t.Run("EmptyDirectory", func(t *testing.T) {
		dir := t.TempDir()
		refused(t, dir, "no store", "check", "--data", dir)
	})
	t.Run("Missing", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nothing")
		if code, _, _ := parley(nil, "check", "--data", dir); code == 0 {
			t.Error("check of a missing directory passed")
		}
		if _, err := os.Stat(dir); err == nil {
			t.Error("check created the missing directory")
		}
	})

	t.Run("StoreChecksWithoutWriting", func(t *testing.T) {
		before := dirSnapshot(t, data)
		code, out, errOut := parley(nil, "check", "--data", data)
		if code != 0 || !strings.Contains(out, "ok: records and indexes agree") || !strings.Contains(out, "1 visitors") {
			t.Fatalf("check: exit %d: %s %s", code, out, errOut)
		}
		if after := dirSnapshot(t, data); after != before {
			t.Errorf("check wrote into the data directory:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
	t.Run("UncleanStore", func(t *testing.T) {
		// A copy of an open store's files is what a kill -9 leaves.
		live := filepath.Join(t.TempDir(), "live")
		st, err := storage.Open(live, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		v := &storage.Visitor{ID: storage.NewID(time.Now()), Site: "demo", Channel: "web", CreatedAt: time.Now(), LastSeenAt: time.Now()}
		if err := st.CreateSession(context.Background(), v, &storage.Session{ID: storage.NewID(time.Now()), Site: "demo", VisitorID: v.ID, Channel: "web", StartedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		crashed := t.TempDir()
		entries, _ := os.ReadDir(live)
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(live, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(crashed, e.Name()), b, 0o600)
		}
		before := dirSnapshot(t, crashed)
		scratch := t.TempDir()
		code, out, errOut := parley(nil, "check", "--data", crashed, "--scratch", scratch)
		if code != 0 || !strings.Contains(out, "not closed cleanly") || !strings.Contains(out, "1 visitors, 1 sessions") {
			t.Fatalf("check of an unclean store: exit %d: %s %s", code, out, errOut)
		}
		if after := dirSnapshot(t, crashed); after != before {
			t.Error("check wrote into the unclean store")
		}
		if left, _ := os.ReadDir(scratch); len(left) > 0 {
			t.Errorf("check left its copy behind: %v", left)
		}
	})
	t.Run("RestoreForceKeepsOtherFiles", func(t *testing.T) {
		// A data directory an operator also keeps a note in.
		dir := newDataDir(t)
		os.WriteFile(filepath.Join(dir, "NOTES.txt"), []byte("restored on Monday"), 0o600)
		if code, out, errOut := parley(nil, "check", "--data", dir); code != 0 {
			t.Fatalf("check: exit %d: %s %s", code, out, errOut)
		}
		code, _, errOut := parley(nil, "restore", "--in", full, "--data", dir, "--force")
		if code != 0 || !strings.Contains(errOut, `kept "NOTES.txt"`) {
			t.Fatalf("restore --force: exit %d: %s", code, errOut)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "NOTES.txt")); string(b) != "restored on Monday" {
			t.Errorf("NOTES.txt after restore --force: %q, %v", b, err)
		}
	})
	t.Run("RestoreForce", func(t *testing.T) {
		code, out, errOut := parley(map[string]string{"PARLEY_CONFIG": "/etc/parley/sites.json"}, "restore", "--in", full, "--data", data, "--force")
		if code != 0 {
			t.Fatalf("restore --force over a Parley data directory: exit %d: %s", code, errOut)
		}
		if want := "parley serve --data " + data + " --config /etc/parley/sites.json"; !strings.Contains(out, want) {
			t.Errorf("restore hint %q lacks %q", out, want)
		}
		if code, out, errOut := parley(nil, "check", "--data", data); code != 0 || !strings.Contains(out, "1 visitors") {
			t.Errorf("check after restore: exit %d: %s %s", code, out, errOut)
		}
	})
}

// TestNewLogger_Duration shows durations in the log as text, not as
// nanoseconds: the retention sweep's took.
func TestNewLogger_Duration(t *testing.T) {
	var buf bytes.Buffer
	server.NewLogger(&buf).Info("retention sweep", "took", 1500*time.Millisecond)
	if got := buf.String(); !strings.Contains(got, `"took":"1.5s"`) {
		t.Errorf("log line %s: want took as \"1.5s\"", got)
	}
}
