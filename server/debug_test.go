package server

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestDebugAddr_ServesPprofAndMetricsOnItsOwnListener(t *testing.T) {
	cfg, err := ParseServeFlags([]string{"--debug-addr", "127.0.0.1:0"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DebugAddr != "127.0.0.1:0" {
		t.Fatalf("DebugAddr = %q", cfg.DebugAddr)
	}
	// Find a free port, then serve the profiles there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv, err := Open(Config{DataDir: t.TempDir(), AdminToken: "debug-test-token-0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	stop, err := serveDebug(addr, srv.DebugHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	res, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "goroutine profile:") {
		t.Fatalf("status %d, body %.200q", res.StatusCode, body)
	}
	// The metrics, with a forced collection, need no token here.
	res, err = http.Get("http://" + addr + "/metrics?gc=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "go_memstats_heap_inuse_bytes") {
		t.Fatalf("metrics: status %d, body %.200q", res.StatusCode, body)
	}
	// Badger's own counters, for the write amplification (README,
	// Performance).
	res, err = http.Get("http://" + addr + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"badger_write_bytes_l0"`) {
		t.Fatalf("vars: status %d, body %.200q", res.StatusCode, body)
	}
	// A taken address is an error at start, not a silent no-op.
	if _, err := serveDebug(addr, srv.DebugHandler(), slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Fatal("serveDebug on a taken address: no error")
	}
}
