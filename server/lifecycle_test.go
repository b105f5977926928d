package server_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/storagetest"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

// storeMentions returns the keys of the store whose key or value mentions
// any of ids.
func storeMentions(tb testing.TB, st *storage.Store, ids []string) []string {
	tb.Helper()
	var found []string
	all := storagetest.Dump(tb, st, "")
	for _, k := range slices.Sorted(maps.Keys(all)) {
		for _, id := range ids {
			if strings.Contains(k, id) || bytes.Contains(all[k], []byte(id)) {
				found = append(found, fmt.Sprintf("%q mentions %s", k, id))
			}
		}
	}
	return found
}

// visitorIDs lists the visitor's ID, its sessions' and its files'.
func visitorIDs(tb testing.TB, st *storage.Store, visitorID string) []string {
	tb.Helper()
	ctx := context.Background()
	ids := []string{visitorID}
	sids, err := st.VisitorSessionIDs(ctx, visitorID)
	if err != nil {
		tb.Fatal(err)
	}
	files, err := st.VisitorFiles(ctx, visitorID)
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range files {
		ids = append(ids, f.ID)
	}
	return append(ids, sids...)
}

func TestLifecycle_EraseAndExport(t *testing.T) {
	ctx := context.Background()
	s, ts := startAdminServer(t, server.Config{})
	ada, bob := newStoryClient(ts.URL, "ada"), newStoryClient(ts.URL, "bob")
	ada.story(t, ctx)
	bob.story(t, ctx)
	ada.close()
	bob.close()
	if len(ada.uploads) == 0 {
		t.Fatal("the story sent no file")
	}
	ids := visitorIDs(t, s.Store.(*storage.Store), ada.visitor)
	if len(ids) < 3 {
		t.Fatalf("ids %v: want a visitor, a session and a file", ids)
	}
	bobBefore := len(storeMentions(t, s.Store.(*storage.Store), []string{bob.visitor}))

	t.Run("Export", func(t *testing.T) {
		resp, body := adminDo(t, "GET", ts.URL+"/admin/api/users/"+ada.visitor+"/export")
		if resp.StatusCode != 200 {
			t.Fatalf("export: %s %s", resp.Status, body)
		}
		if got, want := resp.Header.Get("Content-Disposition"), `attachment; filename="parley-visitor-`+ada.visitor+`.json"`; got != want {
			t.Errorf("Content-Disposition %q, want %q", got, want)
		}
		var doc struct {
			Visitor  storage.Visitor `json:"visitor"`
			Sessions []struct {
				ID       string            `json:"id"`
				State    storage.State     `json:"state"`
				Inputs   []storage.Input   `json:"inputs"`
				Messages []storage.Message `json:"messages"`
			} `json:"sessions"`
			Files []struct {
				ID, Name, Download string
			} `json:"files"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("export is not JSON: %v", err)
		}
		if doc.Visitor.ID != ada.visitor || doc.Visitor.Email != "ada@example.org" || len(doc.Sessions) != 1 ||
			len(doc.Sessions[0].Messages) < 10 || len(doc.Sessions[0].Inputs) != 3 || doc.Sessions[0].State.Variables["email"] != "ada@example.org" {
			t.Errorf("export: %.600s", body)
		}
		if len(doc.Files) != 1 || doc.Files[0].Download != "/admin/api/files/"+doc.Files[0].ID {
			t.Fatalf("files: %+v", doc.Files)
		}
		if resp, b := adminDo(t, "GET", ts.URL+doc.Files[0].Download); resp.StatusCode != 200 || !bytes.HasPrefix(b, []byte("%PDF")) {
			t.Errorf("download link: %s %.40q", resp.Status, b)
		}
		if bytes.Contains(body, []byte(bob.visitor)) || bytes.Contains(body, []byte("bob@example.org")) {
			t.Error("the export holds another visitor's data")
		}
		resp, body = adminDo(t, "GET", ts.URL+"/admin/api/users/"+ada.visitor+"/export?format=zip")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" {
			t.Fatalf("zip export: %s", resp.Status)
		}
		zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
		}
		if want := []string{"visitor.json", "files/" + doc.Files[0].ID + "/" + doc.Files[0].Name}; strings.Join(names, ",") != strings.Join(want, ",") {
			t.Errorf("zip holds %v, want %v", names, want)
		} else if rc, err := zr.File[0].Open(); err != nil {
			t.Error(err)
		} else if b, _ := io.ReadAll(rc); !bytes.Contains(b, []byte(`"download": "`+want[1]+`"`)) {
			t.Errorf("the zip's visitor.json does not link %s", want[1])
		}
		// No token, no export.
		req, _ := http.NewRequest("GET", ts.URL+"/admin/api/users/"+ada.visitor+"/export", nil)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
			t.Errorf("export without a token: %v %v", resp.Status, err)
		}
	})

	t.Run("Erase", func(t *testing.T) {
		for i := 0; i < 2; i++ { // idempotent
			if resp, body := adminDo(t, "DELETE", ts.URL+"/admin/api/users/"+ada.visitor); resp.StatusCode != 204 {
				t.Fatalf("erase #%d: %s %s", i+1, resp.Status, body)
			}
		}
		if found := storeMentions(t, s.Store.(*storage.Store), ids); len(found) > 0 {
			t.Errorf("after erase the store still has:\n%s", strings.Join(found, "\n"))
		}
		if n := len(storeMentions(t, s.Store.(*storage.Store), []string{bob.visitor})); n != bobBefore {
			t.Errorf("the other visitor had %d keys, has %d", bobBefore, n)
		}
		r, err := s.Store.(*storage.Store).Verify(ctx)
		if err != nil || len(r.Problems) > 0 {
			t.Errorf("verify: %v %v", err, r.Problems)
		}
		for _, path := range []string{"/admin/api/users/" + ada.visitor, "/admin/api/users/" + ada.visitor + "/export", "/admin/api/sessions/" + ada.session} {
			if resp, _ := adminDo(t, "GET", ts.URL+path); resp.StatusCode != 404 {
				t.Errorf("GET %s after erase: %s, want 404", path, resp.Status)
			}
		}
		for fid := range ada.uploads {
			if resp, _ := adminDo(t, "GET", ts.URL+"/admin/api/files/"+fid); resp.StatusCode != 404 {
				t.Errorf("file after erase: %s, want 404", resp.Status)
			}
		}
		for _, list := range []string{"/admin/api/users", "/admin/api/users?q=ada", "/admin/api/sessions"} {
			if _, body := adminDo(t, "GET", ts.URL+list); bytes.Contains(body, []byte(ada.visitor)) || bytes.Contains(body, []byte(ada.session)) {
				t.Errorf("%s still lists the erased visitor", list)
			}
			if _, body := adminDo(t, "GET", ts.URL+list); list != "/admin/api/users?q=ada" && !bytes.Contains(body, []byte(bob.visitor)) {
				t.Errorf("%s lost the other visitor", list)
			}
		}
		if resp, _ := adminDo(t, "DELETE", ts.URL+"/admin/api/users/not-an-id"); resp.StatusCode != 400 {
			t.Errorf("erase of a bad id: %s, want 400", resp.Status)
		}
		req, _ := http.NewRequest("DELETE", ts.URL+"/admin/api/users/"+bob.visitor, nil)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
			t.Errorf("erase without a token: %v %v", resp.Status, err)
		}
	})

	t.Run("ComesBack", func(t *testing.T) {
		// The erased browser still has its token: it is recorded afresh.
		ada.session = ""
		if err := ada.connect(ctx); err != nil {
			t.Fatal(err)
		}
		defer ada.close()
		if err := ada.step(ctx); err != nil {
			t.Fatal(err)
		}
		v, err := s.Store.Visitor(ctx, ada.visitor)
		if err != nil || v.Email != "" {
			t.Errorf("returning visitor: %+v, %v; want a fresh record", v, err)
		}
	})
}

// testClock is a clock the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestLifecycle_Retention(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "parley.json")
	os.WriteFile(cfgPath, []byte(`{"sites":[
		{"id":"demo","origins":["http://localhost:*"],"retentionDays":7},
		{"id":"archive","origins":["https://archive.example"],"retentionDays":0},
		{"id":"plain","origins":["https://plain.example"]}]}`), 0o600)
	cfg, err := server.ParseServeFlags([]string{"--config", cfgPath, "--data", t.TempDir()}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Now = clock.Now
	s, ts := startAdminServer(t, *cfg)
	r := s.Retention()
	if r.For("demo") != 7*24*time.Hour || r.For("archive") != 0 || r.For("plain") != server.DefaultRetentionDays*24*time.Hour || r.For("removed") != 0 {
		t.Errorf("retention %+v", r)
	}

	old, recent := newStoryClient(ts.URL, "old"), newStoryClient(ts.URL, "recent")
	old.story(t, ctx)
	old.close()
	clock.Add(5 * 24 * time.Hour)
	recent.story(t, ctx)
	recent.close()
	oldIDs := visitorIDs(t, s.Store.(*storage.Store), old.visitor)

	clock.Add(3 * 24 * time.Hour) // old: 8 days, recent: 3 days
	res, err := s.SweepRetention(ctx)
	if err != nil || res.Visitors != 1 {
		t.Fatalf("sweep: %+v, %v; want one visitor erased", res, err)
	}
	if found := storeMentions(t, s.Store.(*storage.Store), oldIDs); len(found) > 0 {
		t.Errorf("after the sweep the store still has:\n%s", strings.Join(found, "\n"))
	}
	if _, body := adminDo(t, "GET", ts.URL+"/admin/api/users"); bytes.Contains(body, []byte(old.visitor)) || !bytes.Contains(body, []byte(recent.visitor)) {
		t.Errorf("users after the sweep: %.300s", body)
	}
	// Usage counters are aggregates: both sessions still count.
	var usage struct {
		Total int `json:"total"`
	}
	if resp, body := adminDo(t, "GET", ts.URL+"/admin/api/usage?from=2026-02-01T00:00:00Z&to=2026-04-01T00:00:00Z"); resp.StatusCode != 200 || json.Unmarshal(body, &usage) != nil || usage.Total != 2 {
		t.Errorf("usage after the sweep: %s %s; want 2 sessions", resp.Status, body)
	}

	t.Run("BadConfig", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.json")
		os.WriteFile(bad, []byte(`{"sites":[{"id":"demo","origins":["http://localhost:*"],"retentionDays":-1}]}`), 0o600)
		_, err := server.ParseServeFlags([]string{"--config", bad}, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "retentionDays") {
			t.Errorf("negative retentionDays: %v", err)
		}
	})
}

// TestBackup_OnlineCLI backs up a serving Parley with `parley backup`,
// full then incremental, restores both with `parley restore` and compares
// every key and value with the store.
func TestBackup_OnlineCLI(t *testing.T) {
	ctx := context.Background()
	data, addr := t.TempDir(), freeAddr(t)
	env := map[string]string{"PARLEY_ADMIN_TOKEN": adminToken}
	getenv := func(k string) string { return env[k] }
	stop, logs := runMain(t, []string{"--addr", addr, "--data", data}, env)
	waitHealthy(t, addr)
	base := "http://" + addr
	run := func(args ...string) (int, string, string) {
		var out, errOut syncBuffer
		code := server.Main(ctx, args, getenv, &out, &errOut)
		return code, out.String(), errOut.String()
	}

	a := newStoryClient(base, "ada")
	a.story(t, ctx)
	out := t.TempDir()
	full, incr := filepath.Join(out, "full.backup"), filepath.Join(out, "incr.backup")
	// While clients talk.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b := newStoryClient(base, "bob")
		b.story(t, ctx)
		b.close()
	}()
	code, version, errOut := run("backup", "--url", base, "--out", full)
	if code != 0 {
		t.Fatalf("backup: exit %d: %s", code, errOut)
	}
	wg.Wait()
	for i := 0; i < 3; i++ {
		if err := a.step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a.close()
	code, version2, errOut := run("backup", "--url", base, "--out", incr, "--since", strings.TrimSpace(version))
	if code != 0 {
		t.Fatalf("incremental backup: exit %d: %s", code, errOut)
	}
	v1, _ := strconv.ParseUint(strings.TrimSpace(version), 10, 64)
	v2, _ := strconv.ParseUint(strings.TrimSpace(version2), 10, 64)
	if !strings.Contains(errOut, "incremental after version "+strings.TrimSpace(version)) || v1 == 0 || v2 <= v1 {
		t.Errorf("incremental: version %q after %q, %s", version2, version, errOut)
	}

	t.Run("OfflineRefusedWhileServing", func(t *testing.T) {
		code, _, errOut := run("backup", "--data", data, "--out", filepath.Join(out, "x.backup"))
		if code == 0 || !strings.Contains(errOut, "--url") {
			t.Errorf("offline backup of a serving store: exit %d, %q", code, errOut)
		}
		if _, err := os.Stat(filepath.Join(out, "x.backup.partial")); !errors.Is(err, os.ErrNotExist) {
			t.Error("a partial file was left behind")
		}
	})
	t.Run("CheckRefusedWhileServing", func(t *testing.T) {
		code, _, errOut := run("check", "--data", data)
		if code == 0 || !strings.Contains(errOut, "running Parley") {
			t.Errorf("check of a serving store: exit %d, %q", code, errOut)
		}
	})
	t.Run("ForceRefusedWhileServing", func(t *testing.T) {
		code, _, errOut := run("restore", "--in", full, "--data", data, "--force")
		if code == 0 || !strings.Contains(errOut, "running Parley") {
			t.Errorf("restore over a serving store: exit %d, %q", code, errOut)
		}
	})
	t.Run("BadToken", func(t *testing.T) {
		var o, e syncBuffer
		code := server.Main(ctx, []string{"backup", "--url", base, "--out", filepath.Join(out, "y.backup")}, func(k string) string {
			if k == "PARLEY_ADMIN_TOKEN" {
				return "wrong-token-0123456789"
			}
			return ""
		}, &o, &e)
		if code == 0 || !strings.Contains(e.String(), "401") {
			t.Errorf("backup with a wrong token: exit %d, %q", code, e.String())
		}
	})

	if code := stop(); code != 0 {
		t.Fatalf("stop: exit %d\n%s", code, logs)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if code, outText, errOut := run("restore", "--in", full, "--in", incr, "--data", restored); code != 0 {
		t.Fatalf("restore: exit %d: %s %s", code, outText, errOut)
	}
	src, err := storage.Open(data, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := storage.Open(restored, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srcKV, dstKV := storagetest.Dump(t, src, ""), storagetest.Dump(t, dst, "")
	if len(srcKV) == 0 || len(srcKV) != len(dstKV) {
		t.Errorf("%d keys in the store, %d restored", len(srcKV), len(dstKV))
	}
	for k, v := range srcKV {
		if dv, ok := dstKV[k]; !ok || !bytes.Equal(dv, v) {
			t.Errorf("key %q: restored %v, equal %v", k, ok, bytes.Equal(dv, v))
		}
	}
	dst.Close()
	if code, outText, errOut := run("check", "--data", restored); code != 0 || !strings.Contains(outText, "ok: records and indexes agree") {
		t.Errorf("check of the restored store: exit %d: %s %s", code, outText, errOut)
	}
	for _, name := range []string{"visitor.key"} {
		a, _ := os.ReadFile(filepath.Join(data, name))
		b, _ := os.ReadFile(filepath.Join(restored, name))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s not restored", name)
		}
	}

	t.Run("Refusals", func(t *testing.T) {
		cut := filepath.Join(out, "cut.backup")
		b, _ := os.ReadFile(full)
		os.WriteFile(cut, b[:len(b)-20], 0o600)
		for name, args := range map[string][]string{
			"NotEmpty":        {"restore", "--in", full, "--data", restored},
			"IncrementalOnly": {"restore", "--in", incr, "--data", filepath.Join(t.TempDir(), "n")},
			"CutShort":        {"restore", "--in", cut, "--data", filepath.Join(t.TempDir(), "n")},
			"NotParley":       {"restore", "--in", full, "--data", out, "--force"},
		} {
			if code, _, errOut := run(args...); code == 0 {
				t.Errorf("%s: restore succeeded", name)
			} else {
				t.Logf("%s: %s", name, strings.TrimSpace(errOut))
			}
		}
		// --force replaces a stopped Parley's data directory.
		if code, _, errOut := run("restore", "--in", full, "--data", restored, "--force"); code != 0 {
			t.Errorf("restore --force: %s", errOut)
		}
	})
}

func TestLifecycle_EraseClosesLiveSockets(t *testing.T) {
	// DELETE /admin/api/users/{id} while the visitor's tab is open: its
	// socket is closed with 4001 (the widget starts afresh), another
	// visitor's socket is untouched.
	e := startEnv(t)
	ada, bob := e.visitor("demo"), e.visitor("demo")
	ada.UntilPrompt("menu")
	bob.UntilPrompt("menu")
	req, _ := http.NewRequest("DELETE", e.srv.URL+"/admin/api/users/"+ada.visitor, nil)
	req.Header = adminHeader.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("erase: %s", resp.Status)
	}
	ada.ExpectClose(widget.StatusErased)
	bob.MustChoice("b1", "menu", "demo")
	if f := bob.Expect("ack"); f.ID == "" {
		t.Errorf("the other visitor's ack: %+v", f)
	}
}

func TestLifecycle_EraseLogsSocketsClosed(t *testing.T) {
	// The log says how many of the erased visitor's sockets were closed:
	// the erase's fence closes them, so the count is the fence's, not a
	// later look that finds none left.
	var logs syncBuffer
	_, srv := startAdminServer(t, server.Config{Logger: server.NewLogger(&logs)})
	url := widgettest.URL(srv.URL, "demo")
	jar := widgettest.NewJar()
	tab1 := widgettest.MustDial(t, url, widgettest.Options{Origin: testOrigin, Jar: jar})
	w := tab1.MustHello(widgettest.Hello{})
	tab2 := widgettest.MustDial(t, url, widgettest.Options{Origin: testOrigin, Jar: jar})
	tab2.MustHello(widgettest.Hello{Session: w.Session})
	if resp, _ := adminDo(t, "DELETE", srv.URL+"/admin/api/users/"+w.Visitor); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("erase: %s", resp.Status)
	}
	tab1.ExpectClose(widget.StatusErased)
	tab2.ExpectClose(widget.StatusErased)
	var closed []string
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["visitor"] != w.Visitor {
			continue
		}
		for _, k := range []string{"sockets", "socketsClosed"} {
			if n, ok := rec[k]; ok {
				closed = append(closed, fmt.Sprintf("%s: %s=%v", rec["msg"], k, n))
			}
		}
	}
	if want := "erased visitor's sockets closed: sockets=2"; len(closed) != 1 || closed[0] != want {
		t.Errorf("logged socket counts %q, want only %q", closed, want)
	}
}
