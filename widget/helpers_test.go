package widget_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/identity"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/story"
	"github.com/parley-chat/parley/widget/widgettest"
)

const testOrigin = "http://localhost:5173"

// env is a gateway on a real Badger store behind a real HTTP server.
type env struct {
	tb    testing.TB
	dir   string
	opts  storage.Options
	store *storage.Store
	keys  *identity.Keyring
	gw    *widget.Gateway
	srv   *httptest.Server
	clock *clock
	sites []*widget.Site // nil: the demo site
	// gatewayStore, if set, is the gateway's store instead of store
	// (the benchmarks without one).
	gatewayStore widget.Store
}

// clock is an injectable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func demoSite() *widget.Site {
	return &widget.Site{
		ID: "demo", Origins: []string{"http://localhost:*", "http://127.0.0.1:*"},
		Story: story.Demo(), SessionTimeout: 30 * time.Minute,
		Input: story.InputOptions{PhoneRegion: "DE"}, UploadMaxBytes: 10 << 20,
	}
}

// mustEnv starts a gateway over a store in a temp dir.
func mustEnv(tb testing.TB, cfg widget.Config) *env {
	tb.Helper()
	return mustEnvWith(tb, cfg, storage.Options{})
}

// mustEnvSite is mustEnv serving site instead of the demo site; its ID
// must be "demo", which wsURL names.
func mustEnvSite(tb testing.TB, cfg widget.Config, site *widget.Site) *env {
	tb.Helper()
	e := &env{tb: tb, dir: tb.TempDir(), clock: &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, sites: []*widget.Site{site}}
	e.open(cfg)
	tb.Cleanup(e.close)
	return e
}

// mustEnvWith is mustEnv with store options.
func mustEnvWith(tb testing.TB, cfg widget.Config, opts storage.Options) *env {
	tb.Helper()
	e := &env{tb: tb, dir: tb.TempDir(), opts: opts, clock: &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	e.open(cfg)
	tb.Cleanup(e.close)
	return e
}

func (e *env) open(cfg widget.Config) {
	e.tb.Helper()
	var err error
	if e.store, err = storage.Open(e.dir, e.opts); err != nil {
		e.tb.Fatal(err)
	}
	if e.keys, err = identity.LoadOrCreateKeyring(e.dir); err != nil {
		e.tb.Fatal(err)
	}
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	sites := e.sites
	if sites == nil {
		sites = []*widget.Site{demoSite()}
	}
	var st widget.Store = e.store
	if e.gatewayStore != nil {
		st = e.gatewayStore
	}
	e.gw = widget.New(cfg, st, e.keys, sites)
	mux := http.NewServeMux()
	mux.Handle("GET /v1/ws", e.gw)
	e.srv = httptest.NewServer(mux)
}

func (e *env) close() {
	if e.srv == nil {
		return
	}
	e.srv.CloseClientConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.gw.Shutdown(ctx)
	e.srv.Close()
	e.store.Close()
	e.srv = nil
}

// reopen closes everything and opens the same data dir again.
func (e *env) reopen() {
	e.close()
	e.open(widget.Config{})
}

func (e *env) wsURL() string { return widgettest.URL(e.srv.URL, "demo") }

// dial opens a socket of the browser whose cookie jar is jar (see
// widgettest.NewJar), from the test origin with a desktop User-Agent.
func (e *env) dial(jar http.CookieJar) *widgettest.Client {
	e.tb.Helper()
	return widgettest.MustDial(e.tb, e.wsURL(), widgettest.Options{
		Origin: testOrigin, Jar: jar,
		Header: http.Header{"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"}},
	})
}
