package widget_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-chat/parley/identity"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/story"
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
	e.gw = widget.New(cfg, e.store, e.keys, sites)
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

func (e *env) wsURL() string { return "ws" + e.srv.URL[len("http"):] + "/v1/ws?site=demo" }

// browser is a client with its own cookie jar, like one browser.
type browser struct {
	jar http.CookieJar
}

func newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{jar: jar}
}

// client is one WebSocket of a browser.
type client struct {
	tb testing.TB
	ws *websocket.Conn
}

func (e *env) dial(b *browser) *client {
	e.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, e.wsURL(), &websocket.DialOptions{
		HTTPClient: &http.Client{Jar: b.jar},
		HTTPHeader: http.Header{"Origin": {testOrigin}, "User-Agent": {"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"}},
	})
	if err != nil {
		e.tb.Fatalf("dial: %v (resp %v)", err, resp)
	}
	c := &client{tb: e.tb, ws: ws}
	e.tb.Cleanup(func() { ws.CloseNow() })
	return c
}

// frame is any server frame, decoded loosely.
type frame struct {
	Type    string            `json:"type"`
	Visitor string            `json:"visitor"`
	Token   string            `json:"token"`
	Session string            `json:"session"`
	Resumed *bool             `json:"resumed"`
	History []frame           `json:"history"`
	ID      string            `json:"id"`
	From    string            `json:"from"`
	At      string            `json:"at"`
	Text    string            `json:"text"`
	Block   string            `json:"block"`
	Ref     string            `json:"ref"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Options []storage.Option  `json:"options"`
	Input   *json.RawMessage  `json:"input"`
	Upload  *json.RawMessage  `json:"upload"`
	Extra   map[string]string `json:"-"`
}

func (c *client) send(v any) {
	c.tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.tb.Fatal(err)
	}
	c.sendRaw(b)
}

func (c *client) sendRaw(b []byte) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

// next reads one frame.
func (c *client) next() frame {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		c.tb.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		c.tb.Fatalf("decode %s: %v", b, err)
	}
	return f
}

// expect reads one frame and checks its type.
func (c *client) expect(typ string) frame {
	c.tb.Helper()
	f := c.next()
	if f.Type != typ {
		c.tb.Fatalf("got frame %+v, want type %q", f, typ)
	}
	return f
}

// hello says hello and returns the welcome.
func (c *client) hello(h map[string]any) frame {
	c.tb.Helper()
	h["type"] = "hello"
	c.send(h)
	return c.expect("welcome")
}

// untilPrompt reads bot messages until one carries options, an input or an
// upload (a prompt), and returns it.
func (c *client) untilPrompt() frame {
	c.tb.Helper()
	for {
		f := c.expect("message")
		if len(f.Options) > 0 || f.Input != nil || f.Upload != nil {
			return f
		}
	}
}
