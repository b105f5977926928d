package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

// Helpers of the admin API tests start with "adm" so they do not collide
// with other tests of package server_test.

const admToken = "admin-test-token-0123456789abcdef"

// admNow is the clock of the admin tests' servers.
var admNow = time.Date(2025, 3, 31, 12, 0, 0, 0, time.UTC)

// admServer starts Parley with an empty store behind httptest.
func admServer(tb testing.TB) (*server.Server, *httptest.Server) {
	tb.Helper()
	return startServer(tb, server.Config{AdminToken: admToken, Now: func() time.Time { return admNow }})
}

var admAuth = admintest.Auth(admToken)

func TestAdminAPI_OneFailureBudget(t *testing.T) {
	// Every route that takes the admin token counts against one budget of
	// 10 failures per address: the API, a file download, the privacy
	// routes (export, erase), the backup, the metrics.
	t.Run("AcrossRoutes", func(t *testing.T) {
		_, ts := admServer(t)
		wrong := map[string]string{"Authorization": "Bearer wrong"}
		id := "01JAAAAAAAAAAAAAAAAAAAAAAA"
		routes := [][2]string{
			{"GET", "/admin/api/users"}, {"GET", "/admin/api/files/" + id}, {"GET", "/admin/api/users/" + id + "/export"},
			{"DELETE", "/admin/api/users/" + id}, {"GET", "/admin/api/backup"}, {"GET", "/admin/api/usage"}, {"GET", "/metrics"},
		}
		for i := range 10 {
			rt := routes[i%len(routes)]
			if resp, body := admintest.Do(t, rt[0], ts.URL+rt[1], wrong); resp.StatusCode != 401 {
				t.Fatalf("failure %d on %s: %d %s", i+1, rt[1], resp.StatusCode, body)
			}
		}
		for _, rt := range routes {
			if resp, _ := admintest.Do(t, rt[0], ts.URL+rt[1], wrong); resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("%s %s after 10 failures elsewhere: %d, want 429", rt[0], rt[1], resp.StatusCode)
			}
		}
	})
	t.Run("IPv6Per64", func(t *testing.T) {
		// Behind a trusted proxy the client is the address it names; the
		// addresses of one IPv6 /64 share a budget, another /64 has its own.
		proxies, _ := server.ParseTrustedProxies("127.0.0.1")
		_, ts := startServer(t, server.Config{AdminToken: admToken, Limits: widget.Config{ClientIP: proxies.ClientIP}})
		from := func(ip, token string) int {
			resp, _ := admintest.Do(t, "GET", ts.URL+"/admin/api/users", map[string]string{"Authorization": "Bearer " + token, "X-Forwarded-For": ip})
			return resp.StatusCode
		}
		for i := range 10 {
			if got := from(fmt.Sprintf("2001:db8:1:2::%x", i+1), "wrong"); got != 401 {
				t.Fatalf("failure %d: %d", i+1, got)
			}
		}
		if got := from("2001:db8:1:2:ffff::1", "wrong"); got != http.StatusTooManyRequests {
			t.Errorf("another address of the /64: %d, want 429", got)
		}
		if got := from("2001:db8:1:3::1", "wrong"); got != 401 {
			t.Errorf("another /64: %d, want 401", got)
		}
		if got := from("2001:db8:1:2::1", admToken); got != 200 {
			t.Errorf("the right token from the blocked /64: %d", got)
		}
	})
}

func TestAdminToken_MinLength(t *testing.T) {
	t.Run("Config", func(t *testing.T) {
		dir := t.TempDir()
		_, err := server.Open(server.Config{DataDir: dir, AdminToken: "a"})
		if err == nil || !strings.Contains(err.Error(), "PARLEY_ADMIN_TOKEN") || !strings.Contains(err.Error(), "at least 32") {
			t.Errorf("a 1-character token: %v", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("a refused start wrote %d files", len(entries))
		}
	})
	t.Run("Env", func(t *testing.T) {
		var out syncBuffer
		// Bounded, so a start that wrongly succeeds fails the test.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		code := server.Main(ctx, []string{"--addr", freeAddr(t), "--data", t.TempDir()},
			func(k string) string { return map[string]string{"PARLEY_ADMIN_TOKEN": "short-token"}[k] }, &out, &out)
		if code == 0 || !strings.Contains(out.String(), "has 11 characters; it needs at least 32") {
			t.Errorf("PARLEY_ADMIN_TOKEN=short-token: exit %d, %q", code, out.String())
		}
	})
	t.Run("File", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "admin.token"), []byte("0123456789abcdef\n"), 0o600)
		_, err := server.Open(server.Config{DataDir: dir})
		if err == nil || !strings.Contains(err.Error(), "at least 32") {
			t.Errorf("a 16-character admin.token: %v", err)
		}
	})
}

// TestAdminAPI_ActiveWhileSocketOpen: a session is active in the admin
// API while the real gateway holds a socket of it, and open after.
func TestAdminAPI_ActiveWhileSocketOpen(t *testing.T) {
	s, ts := admServer(t)
	sess := admintest.Fixture(t, s.Store)
	ids := func(query string) []string {
		t.Helper()
		var page admintest.List[struct{ ID string }]
		admintest.Get(t, ts.URL, admToken, "/admin/api/sessions?limit=500&"+query, &page)
		var out []string
		for _, c := range page.Items {
			out = append(out, c.ID)
		}
		return out
	}
	all := len(sess)
	c := widgettest.MustDial(t, widgettest.URL(ts.URL, "demo"), widgettest.Options{Origin: ts.URL})
	welcome := c.MustHello(widgettest.Hello{})
	if got := ids("status=active"); !slices.Equal(got, []string{welcome.Session}) {
		t.Errorf("active: got %v, want the open session %s", got, welcome.Session)
	}
	if got := ids("status=inactive"); slices.Contains(got, welcome.Session) || len(got) != all {
		t.Errorf("inactive: got %v", got)
	}
	if got := ids("status=open"); len(got) != 0 {
		t.Errorf("open: got %v, want none: the only recent session is active", got)
	}
	c.Close()
	for deadline := time.Now().Add(5 * time.Second); len(ids("status=active")) > 0; {
		if time.Now().After(deadline) {
			t.Fatal("the session stays active after its socket closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Closed by its socket only, the session is open: a hello resumes it
	// within the site's session timeout. The fixture's are closed.
	if got := ids("status=open"); !slices.Equal(got, []string{welcome.Session}) {
		t.Errorf("open: got %v, want %s", got, welcome.Session)
	}
	if got := ids("status=closed"); slices.Contains(got, welcome.Session) || len(got) != all {
		t.Errorf("closed: got %v", got)
	}
}
