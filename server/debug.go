package server

import (
	"expvar"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// DebugHandler serves what must not be public: Go's pprof profiles under
// /debug/pprof/, the Prometheus metrics at /metrics (with ?gc=1, a
// forced collection first) and expvar's /debug/vars (where Badger counts
// the bytes it writes to level 0 and in compactions), without a token. --debug-addr serves it on a
// listener of its own; bind that to loopback or a private network.
func (s *Server) DebugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /debug/vars", expvar.Handler())
	mux.Handle("GET /metrics", s.metricsHandler())
	return mux
}

// serveDebug serves h on addr, a listener of its own so it is never
// reachable through the public address. It returns a function that stops
// it.
func serveDebug(addr string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	base := "http://" + ln.Addr().String()
	log.Info("debug address: pprof profiles and metrics", "pprof", base+"/debug/pprof/", "metrics", base+"/metrics")
	return func() { srv.Close() }, nil
}
