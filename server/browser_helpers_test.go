package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/widget"
)

// Helpers of the browser tests (widget_browser_test.go): a Parley server
// that can stop and start again at the same origin, a host site on another
// origin that embeds the widget, and a headless Chromium tab with the few
// actions the tests need. Names start with "bt" or "browser" so they do
// not collide with other tests of package server_test.

const btAdminToken = "test-admin-token-0123456789abcdef"

// btChromium returns the Chromium binary. Without one the test is skipped
// with an install hint, except under CI=true, where it fails.
func btChromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const hint = "no Chromium: install it with `apt-get install -y chromium` to run the browser tests"
	if os.Getenv("CI") == "true" {
		tb.Fatal(hint)
	}
	tb.Skip(hint)
	return ""
}

// btRequest is one HTTP request Parley received, as the tests need it.
type btRequest struct {
	Path      string
	Cookie    string // the Cookie header, "" when none was sent
	WebSocket bool   // a WebSocket handshake
	Origin    string
}

// btParley is Parley behind httptest on a fixed 127.0.0.1 port, so the
// widget sees the same origin after a restart. It records every request.
type btParley struct {
	tb     testing.TB
	dir    string
	addr   string
	URL    string         // http://127.0.0.1:PORT
	limits widget.Config  // the gateway's limits, kept across restarts
	sites  []*widget.Site // nil: the demo site

	mu    sync.Mutex
	srv   *server.Server
	ts    *httptest.Server
	reqs  []btRequest
	conns []*btConn // hijacked connections (WebSockets)
}

// btStartParley starts Parley on a new data dir and a free port.
func btStartParley(tb testing.TB) *btParley {
	tb.Helper()
	return btStartParleyWith(tb, widget.Config{})
}

// btStartParleyWith is btStartParley with the gateway's limits.
func btStartParleyWith(tb testing.TB, limits widget.Config) *btParley {
	tb.Helper()
	return btStartParleySites(tb, limits, nil)
}

// btStartParleySites is btStartParleyWith serving sites instead of the
// demo site (the host pages name the site "demo").
func btStartParleySites(tb testing.TB, limits widget.Config, sites []*widget.Site) *btParley {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &btParley{tb: tb, dir: tb.TempDir(), addr: ln.Addr().String(), limits: limits, sites: sites}
	p.URL = "http://" + p.addr
	p.serve(ln)
	tb.Cleanup(p.Stop)
	return p
}

// Server returns the running server (for its Store).
func (p *btParley) Server() *server.Server {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv == nil {
		p.tb.Fatal("parley is stopped")
	}
	return p.srv
}

func (p *btParley) serve(ln net.Listener) {
	p.tb.Helper()
	sites := p.sites
	if sites == nil {
		sites = []*widget.Site{server.DemoSite()}
	}
	srv, err := server.Open(server.Config{DataDir: p.dir, AdminToken: btAdminToken, Sites: sites, Limits: p.limits})
	if err != nil {
		ln.Close()
		p.tb.Fatal(err)
	}
	h := srv.Handler()
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.reqs = append(p.reqs, btRequest{
			Path: r.URL.Path, Cookie: r.Header.Get("Cookie"), Origin: r.Header.Get("Origin"),
			WebSocket: strings.EqualFold(r.Header.Get("Upgrade"), "websocket"),
		})
		p.mu.Unlock()
		h.ServeHTTP(btHijackWriter{w, p}, r)
	}))
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	p.mu.Lock()
	p.srv, p.ts = srv, ts
	p.mu.Unlock()
}

// Stop stops Parley as a restart does: no new connections, the sockets
// closed with 1001, the store closed. It is a no-op when stopped.
func (p *btParley) Stop() {
	p.mu.Lock()
	srv, ts := p.srv, p.ts
	p.srv, p.ts = nil, nil
	p.mu.Unlock()
	if srv == nil {
		return
	}
	ts.Close() // stops accepting; hijacked WebSockets are left to the gateway
	if err := srv.Close(); err != nil {
		p.tb.Errorf("close parley: %v", err)
	}
}

// Start starts Parley again on the same data dir and address.
func (p *btParley) Start() {
	p.tb.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ln, err = net.Listen("tcp", p.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		p.tb.Fatalf("listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// Requests returns the requests received so far, optionally only those
// whose path is path.
func (p *btParley) Requests(path string) []btRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []btRequest
	for _, r := range p.reqs {
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// LoseAcks makes Parley's open WebSockets swallow everything the server
// writes: it still reads, stores and acks, but the browser hears nothing.
func (p *btParley) LoseAcks() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.mute.Store(true)
	}
}

// CutSockets drops Parley's open WebSockets as a broken network does: the
// TCP connections close without a WebSocket close frame.
func (p *btParley) CutSockets() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Conn.Close()
	}
}

// btHijackWriter hands the gateway a connection the test controls when it
// hijacks the request for a WebSocket.
type btHijackWriter struct {
	http.ResponseWriter
	p *btParley
}

func (w btHijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	bc := &btConn{Conn: c}
	w.p.mu.Lock()
	w.p.conns = append(w.p.conns, bc)
	w.p.mu.Unlock()
	// Writes go through bc, reads stay on the server's buffered reader.
	return bc, bufio.NewReadWriter(rw.Reader, bufio.NewWriter(bc)), nil
}

func (w btHijackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// btConn is a hijacked connection whose writes can be swallowed.
type btConn struct {
	net.Conn
	mute atomic.Bool
}

func (c *btConn) Write(b []byte) (int, error) {
	if c.mute.Load() {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// Handshakes returns the WebSocket handshakes received so far.
func (p *btParley) Handshakes() []btRequest {
	var out []btRequest
	for _, r := range p.Requests("/v1/ws") {
		if r.WebSocket {
			out = append(out, r)
		}
	}
	return out
}

// btHostSite serves the test pages of testdata/ from another site than
// Parley (localhost instead of 127.0.0.1), as a customer's website would:
//
//	/          host.html, the widget with default options
//	/consent   host.html with data-consent="required"
//	/hostile   hostile.html, hostile CSS around the same widget
//	/options   host.html with every data-* option set
//	/page2     host.html again: a second page of the same site
//	/greet     host.html with data-greet="0", a proactive greeting
//	/nosite    host.html naming a site Parley does not know, in German
//
// It returns the site's origin, http://localhost:PORT.
func btHostSite(tb testing.TB, parleyURL string) string {
	tb.Helper()
	ts := httptest.NewServer(btHostMux(tb, parleyURL))
	tb.Cleanup(ts.Close)
	return "http://localhost:" + ts.URL[strings.LastIndexByte(ts.URL, ':')+1:]
}

// btForeignHost serves the same pages from http://127.0.0.2:PORT, an
// origin the demo site does not allow, and returns that origin.
func btForeignHost(tb testing.TB, parleyURL string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		tb.Skipf("no 127.0.0.2 on this machine: %v", err)
	}
	ts := httptest.NewUnstartedServer(btHostMux(tb, parleyURL))
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	tb.Cleanup(ts.Close)
	return ts.URL
}

// btHostMux is the host site's pages (see btHostSite).
func btHostMux(tb testing.TB, parleyURL string) *http.ServeMux {
	tb.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			tb.Fatal(err)
		}
		return string(b)
	}
	host, hostile := read("host.html"), read("hostile.html")
	page := func(tmpl, attrs string) http.HandlerFunc {
		body := strings.NewReplacer("{{PARLEY}}", parleyURL, "{{ATTRS}}", attrs).Replace(tmpl)
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			fmt.Fprint(w, body)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page(host, ""))
	mux.Handle("GET /consent", page(host, ` data-consent="required"`))
	mux.Handle("GET /hostile", page(hostile, ""))
	mux.Handle("GET /options", page(host, ` data-title="Garden help" data-accent="#ffd400" data-position="left" data-lang="de" data-open="true"`))
	mux.Handle("GET /page2", page(host, ""))
	mux.Handle("GET /greet", page(host, ` data-greet="0"`))
	mux.Handle("GET /nosite", page(strings.Replace(host, `data-site="demo"`, `data-site="nope"`, 1), ` data-lang="de"`))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return mux
}

// btPrelude runs in every document before the page's scripts: shadow-DOM
// query helpers for the tests' expressions, and a hook that records every
// welcome of the widget (its ready event) in window.__ready.
const btPrelude = `(() => {
  window.__root = () => { const h = document.querySelector('#parley-widget'); return h && h.shadowRoot; };
  window.__q = s => { const r = __root(); return r ? r.querySelector(s) : null; };
  window.__qa = s => { const r = __root(); return r ? [...r.querySelectorAll(s)] : []; };
  window.__msgs = () => __qa('.msg').map(m => ({
    from: ['visitor', 'agent'].find(c => m.classList.contains(c)) || 'bot',
    id: m.dataset.id || '', cid: m.dataset.cid || '', pending: m.classList.contains('pending'),
    text: m.querySelector('.bubble:not(.filebox)') ? m.querySelector('.bubble:not(.filebox)').textContent : '',
  }));
  // __has: a stored (acked) message from whom whose text contains text.
  window.__has = (from, text) => __msgs().some(m => m.from === from && m.id && !m.pending && m.text.includes(text));
  window.__ready = [];
  // __warn: what the page logged with console.warn.
  window.__warn = [];
  const warn = console.warn;
  console.warn = (...a) => { __warn.push(a.join(' ')); warn.apply(console, a); };
  let P;
  Object.defineProperty(window, 'Parley', { configurable: true, get: () => P, set: v => {
    P = v;
    if (v && typeof v.on === 'function') v.on('ready', w => window.__ready.push(w));
  }});
})();`

// headlessChromium starts Chromium on a profile directory with the flags
// these machines need (TESTING.md: no background networking on a closed
// network) and returns its first tab's context. One deadline for the whole
// test keeps a hung browser from hanging CI; all ends with the test.
func headlessChromium(tb testing.TB, exe, profile string, timeout time.Duration) context.Context {
	tb.Helper()
	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1280, 800),
	)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, tcancel := context.WithTimeout(ctx, timeout)
	tb.Cleanup(func() {
		tcancel()
		cancel()
		acancel()
	})
	return ctx
}

// browserOptions tune a browser.
type browserOptions struct {
	// BlockCookiesFor is an origin whose cookies the profile blocks, like
	// Settings > "Sites that can't use cookies".
	BlockCookiesFor string
}

// browserTab is one tab of a headless Chromium with its own fresh profile.
type browserTab struct {
	tb  testing.TB
	ctx context.Context
	// describe says what the page shows, for a failure message; nil for
	// the widget's state.
	describe func() string
}

// btHostPage starts a Parley, a host site for it and a browser, and opens
// the host site's page at path with the widget on it.
func btHostPage(t *testing.T, path string) (*btParley, string, *browserTab) {
	t.Helper()
	p := btStartParley(t)
	site := btHostSite(t, p.URL)
	b := btBrowser(t, browserOptions{})
	b.navigate(site + path)
	return p, site, b
}

// btBrowser starts Chromium with a fresh profile and opens a 1280x800 tab.
// The browser stops when the test ends.
func btBrowser(tb testing.TB, opts browserOptions) *browserTab {
	tb.Helper()
	exe := btChromium(tb)
	profile := tb.TempDir()
	if opts.BlockCookiesFor != "" {
		prefs := map[string]any{"profile": map[string]any{"content_settings": map[string]any{"exceptions": map[string]any{
			"cookies": map[string]any{opts.BlockCookiesFor + ",*": map[string]any{"setting": 2}},
		}}}}
		b, _ := json.Marshal(prefs)
		if err := os.MkdirAll(filepath.Join(profile, "Default"), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(profile, "Default", "Preferences"), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	ctx := headlessChromium(tb, exe, profile, 90*time.Second)
	b := &browserTab{tb: tb, ctx: ctx}
	b.do(
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: btPrelude})
			return err
		}),
		chromedp.EmulateViewport(1280, 800),
	)
	return b
}

// do runs actions and fails the test on an error.
func (b *browserTab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.tb.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.tb.Fatalf("browser: %v\n%s", err, b.state())
	}
}

// navigate opens url and waits for the widget's launcher.
func (b *browserTab) navigate(url string) {
	b.tb.Helper()
	b.do(chromedp.Navigate(url))
	b.waitJS(`__q('button.launcher')`, "the widget's launcher")
}

// reload reloads the page and waits for the widget's launcher.
func (b *browserTab) reload() {
	b.tb.Helper()
	b.do(chromedp.Reload())
	b.waitJS(`__q('button.launcher')`, "the widget's launcher after the reload")
}

// btEval evaluates expr in the page (promises awaited) and decodes its value.
func btEval[T any](b *browserTab, expr string) T {
	b.tb.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.tb.Fatalf("evaluate %s: %v\n%s", expr, err, b.state())
	}
	return v
}

// waitJS polls expr until it is truthy, for up to 15 s.
func (b *browserTab) waitJS(expr, what string) {
	b.tb.Helper()
	b.waitJSFor(expr, what, 15*time.Second)
}

func (b *browserTab) waitJSFor(expr, what string, d time.Duration) {
	b.tb.Helper()
	deadline := time.Now().Add(d)
	check := "!!(" + expr + ")"
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](check))
		var exc *chromedp.ExceptionError
		if err != nil && !errors.As(err, &exc) {
			b.tb.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			b.tb.Fatalf("timed out after %v waiting for %s (%s)\n%s", d, what, expr, b.state())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// state describes the page (by default the widget) for a failure message.
func (b *browserTab) state() string {
	if b.describe != nil {
		return b.describe()
	}
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
	  url: location.href,
	  ready: window.__ready,
	  log: (window.__qa ? __qa('.msg') : []).map(m => m.className + ' ' + (m.dataset.id || '-') + ': ' + m.innerText.replace(/\s+/g, ' ')),
	  error: window.__q && __q('#parley-error') ? __q('#parley-error').textContent : null,
	  status: window.__q && __q('.status') && !__q('.status').hidden ? __q('.status').textContent : null,
	  input: window.__q && __q('input.in') ? {type: __q('input.in').type, value: __q('input.in').value} : null,
	}, null, 1)`))
	if err != nil {
		return "(widget state unavailable: " + err.Error() + ")"
	}
	return "widget state: " + s
}

// btShadow is the JS path of the first element matching sel in the
// widget's shadow root.
func btShadow(sel string) chromedp.JSPath {
	q, _ := json.Marshal(sel)
	return chromedp.JSPath("document.querySelector('#parley-widget').shadowRoot.querySelector(" + string(q) + ")")
}

// click clicks the widget element sel with the mouse.
func (b *browserTab) click(sel string) {
	b.tb.Helper()
	b.do(chromedp.Click(btShadow(sel)))
}

// typeText types text into the widget element sel with the keyboard; a
// "\n" presses Enter.
func (b *browserTab) typeText(sel, text string) {
	b.tb.Helper()
	b.do(chromedp.SendKeys(btShadow(sel), text))
}

// cookies returns the browser's cookies, of every site.
func (b *browserTab) cookies() []*network.Cookie {
	b.tb.Helper()
	res, err := chromedp.Call(b.ctx, storage.GetCookies, storage.GetCookiesParams{})
	if err != nil {
		b.tb.Fatalf("get cookies: %v", err)
	}
	return res.Cookies
}

// screenshot captures the viewport as a PNG artifact named name.
func (b *browserTab) screenshot(t *testing.T, name string) []byte {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	btArtifact(t, name, png)
	return png
}

// btArtifact saves a test artifact in t.ArtifactDir() (kept with
// `go test -artifacts -outputdir DIR`) and, when PARLEY_ARTIFACTS names a
// directory, there too.
func btArtifact(t *testing.T, name string, data []byte) {
	t.Helper()
	dirs := []string{t.ArtifactDir()}
	if d := os.Getenv("PARLEY_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("artifact %s (%d bytes)", p, len(data))
	}
}

// on returns the same tab reporting to tb, a subtest.
func (b *browserTab) on(tb testing.TB) *browserTab { return &browserTab{tb: tb, ctx: b.ctx} }

// clearText empties the widget's text box sel as a person does: select all,
// then Backspace.
func (b *browserTab) clearText(sel string) {
	b.tb.Helper()
	b.do(chromedp.Focus(btShadow(sel)),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.KeyEvent(kb.Backspace))
	q, _ := json.Marshal(sel)
	b.waitJS(`__q(`+string(q)+`).value === ''`, "an empty "+sel)
}
