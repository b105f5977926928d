package admin_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/admin"
	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/storage"
)

const token = "admin-test-token-0123456789abcdef"

// now is the clock of the tests' admin servers.
var now = time.Date(2025, 3, 31, 12, 0, 0, 0, time.UTC)

// gateway is the live side as the admin sees it: the sessions a test
// marks active.
type gateway struct {
	mu     sync.Mutex
	active map[string]bool
}

var _ admin.Gateway = (*gateway)(nil)

func (g *gateway) Active(sessionID string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.active[sessionID]
}

func (g *gateway) ActiveSessions() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ids []string
	for id, on := range g.active {
		if on {
			ids = append(ids, id)
		}
	}
	return ids
}

// SessionTimeout: the sites of the tests keep idle sessions 30 minutes.
func (g *gateway) SessionTimeout(site string) time.Duration { return 30 * time.Minute }

func (g *gateway) MaxSessionTimeout() time.Duration { return 30 * time.Minute }

// StoryOrder: the known data's story, as the demo's starts.
func (g *gateway) StoryOrder(bot string) []string {
	if bot == "demo" {
		return []string{"welcome", "menu", "ask_name", "ask_email"}
	}
	return nil
}

func (g *gateway) setActive(sessionID string, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active[sessionID] = on
}

// newServer serves the admin routes over an empty store in a temp dir
// behind httptest; all of it closes when the test ends.
func newServer(tb testing.TB) (*storage.Store, *httptest.Server, *gateway) {
	tb.Helper()
	dir := tb.TempDir()
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	gw := &gateway{active: map[string]bool{}}
	mux := http.NewServeMux()
	admin.New(admin.Config{Store: st, Files: storage.NewFiles(st), Gateway: gw, Token: token, DataDir: dir, Now: func() time.Time { return now }}).Routes(mux)
	ts := httptest.NewServer(mux)
	tb.Cleanup(func() {
		ts.Close()
		st.Close()
	})
	return st, ts, gw
}

var auth = admintest.Auth(token)

// do sends a request with the given headers.
func do(tb testing.TB, method, url string, h map[string]string) (*http.Response, []byte) {
	tb.Helper()
	return admintest.Do(tb, method, url, h)
}

// getJSON fetches an admin API path with the token, expects 200 and
// decodes the JSON body into v.
func getJSON(tb testing.TB, ts *httptest.Server, path string, v any) {
	tb.Helper()
	admintest.Get(tb, ts.URL, token, path, v)
}

// allUsers pages through the overview (admintest.AllUsers).
func allUsers(tb testing.TB, ts *httptest.Server, query string, limit int) []admintest.User {
	tb.Helper()
	return admintest.AllUsers(tb, ts.URL, token, query, limit)
}
