package server_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/widget/widgettest"
)

const opsToken = "test-admin-token-0123456789abcdef"

// mustServer runs a Parley on a temp data dir behind httptest.
func mustServer(tb testing.TB) (*server.Server, *httptest.Server) {
	tb.Helper()
	return startServer(tb, server.Config{AdminToken: opsToken})
}

func get(tb testing.TB, url string, h http.Header) (*http.Response, string) {
	tb.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	// A bare transport, so gzip is not undone behind the test's back.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestOps_HealthReadyMetrics(t *testing.T) {
	_, ts := mustServer(t)
	if resp, body := get(t, ts.URL+"/healthz", nil); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("healthz = %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, ts.URL+"/readyz", nil); resp.StatusCode != 200 || body != "ready\n" {
		t.Errorf("readyz = %d %q", resp.StatusCode, body)
	}

	// One conversation turn, then the counters show it.
	c := widgettest.MustDial(t, widgettest.URL(ts.URL, "demo"), widgettest.Options{Origin: "http://localhost:1234"})
	c.MustHello(widgettest.Hello{})
	c.MustSendRaw([]byte(`{"type":"bogus"}`))
	c.Until(widgettest.TypeError)
	// Not public: the metrics and the forced GC need the admin token on
	// the visitors' address (the token-less way is --debug-addr).
	for _, path := range []string{"/metrics", "/metrics?gc=1"} {
		if resp, body := get(t, ts.URL+path, nil); resp.StatusCode != 401 || strings.Contains(body, "parley_") {
			t.Errorf("%s without the token: %d %.100q", path, resp.StatusCode, body)
		}
	}
	_, body := get(t, ts.URL+"/metrics", http.Header{"Authorization": {"Bearer " + opsToken}})
	for _, want := range []string{
		"parley_connections_open 1",
		"parley_sessions_started_total 1",
		`parley_errors_total{code="unknown_type"} 1`,
		"parley_session_start_seconds_count 1",
		"parley_turn_wait_seconds_count 2", // the hello and the bogus frame
		"go_memstats_heap_inuse_bytes",
		"go_goroutines ",
		"process_resident_memory_bytes ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestStatic_WidgetJS(t *testing.T) {
	_, ts := mustServer(t)
	resp, body := get(t, ts.URL+"/widget.js", http.Header{"Accept-Encoding": {"gzip, br"}})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("ETag") == "" {
		t.Fatalf("widget.js: %d, encoding %q, etag %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header.Get("ETag"))
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=300") {
		t.Errorf("Cache-Control = %q", cc)
	}
	zr, err := gzip.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !strings.Contains(string(plain), "Parley") {
		t.Error("the gzipped body is not the widget")
	}
	t.Logf("widget.js: %d bytes gzipped, %d plain", len(body), len(plain))

	again, _ := get(t, ts.URL+"/widget.js", http.Header{"If-None-Match": {resp.Header.Get("ETag")}})
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET = %d, want 304", again.StatusCode)
	}
	if plainResp, _ := get(t, ts.URL+"/widget.js", nil); plainResp.Header.Get("Content-Encoding") != "" {
		t.Error("gzip sent to a client that did not ask for it")
	}
	// Each load counts as a widget load, none as a session.
	_, metrics := get(t, ts.URL+"/metrics", http.Header{"Authorization": {"Bearer " + opsToken}})
	for _, want := range []string{"parley_widget_loads_total 3\n", "parley_sessions_started_total 0\n"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", strings.TrimSpace(want))
		}
	}
}

func TestStatic_DemoPage(t *testing.T) {
	t.Run("BuiltinSite", func(t *testing.T) {
		_, ts := mustServer(t)
		// The Host header is the client's to write: nothing of it reaches
		// the page.
		req, _ := http.NewRequest("GET", ts.URL+"/", nil)
		req.Host = "evil.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if resp.StatusCode != 200 || !strings.Contains(body, `<script src="/widget.js" data-site="demo" async></script>`) {
			t.Fatalf("demo page (%d) does not embed the widget: %s", resp.StatusCode, body)
		}
		if strings.Contains(body, "evil.example") {
			t.Error("the page repeats the Host header")
		}
		// The embed snippet names the configured address.
		if !strings.Contains(body, `&lt;script src="http://127.0.0.1:8080/widget.js" data-site="demo" async&gt;`) {
			t.Errorf("the snippet does not name the listen address: %s", body)
		}
		h := resp.Header
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") ||
			strings.Contains(csp, "unsafe-inline") {
			t.Errorf("CSP %q", csp)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
			if got := h.Get(k); got != v {
				t.Errorf("%s: %q, want %q", k, got, v)
			}
		}
		if resp, _ := get(t, ts.URL+"/nope", nil); resp.StatusCode != 404 {
			t.Errorf("unknown path = %d, want 404", resp.StatusCode)
		}
	})
	t.Run("CustomConfig", func(t *testing.T) {
		// A config of its own, even one that runs the demo story, has no
		// demo page: it could not connect from here.
		dir := t.TempDir()
		path := filepath.Join(dir, "sites.json")
		os.WriteFile(path, []byte(`{"sites":[{"id":"acme","origins":["https://acme.example"],"story":"builtin:demo"}]}`), 0o600)
		sc, ps := server.LoadConfig(path)
		if err := ps.Err(); err != nil {
			t.Fatal(err)
		}
		_, ts := startServer(t, server.Config{AdminToken: opsToken, ConfigFile: path, Sites: sc.Sites})
		resp, body := get(t, ts.URL+"/", nil)
		if resp.StatusCode != 404 || strings.Contains(body, "widget.js") {
			t.Errorf("/ with a custom config: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("ListenAddress", func(t *testing.T) {
		addr := freeAddr(t)
		stop, _ := runMain(t, []string{"--addr", addr, "--data", t.TempDir()}, map[string]string{"PARLEY_ADMIN_TOKEN": opsToken})
		defer stop()
		waitHealthy(t, addr)
		_, body := get(t, "http://"+addr+"/", nil)
		if !strings.Contains(body, `&lt;script src="http://`+addr+`/widget.js"`) {
			t.Errorf("the snippet does not name the listen address %s: %s", addr, body)
		}
	})
}

func TestOps_ReadyzSaysNoMore(t *testing.T) {
	// A store that does not answer makes /readyz 503 for the load
	// balancer, with no detail for the public.
	s, err := server.Open(server.Config{DataDir: t.TempDir(), AdminToken: opsToken})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	s.Store.Close()
	resp, body := get(t, ts.URL+"/readyz", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || body != "not ready\n" {
		t.Errorf("readyz with the store closed: %d %q", resp.StatusCode, body)
	}
}
