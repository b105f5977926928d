// Package metrics serves Prometheus metrics: a registry with the standard
// Go and process collectors (go_*, process_*), Parley's own series
// (parley_*, gateway.go) and the handler of GET /metrics, whose ?gc=1
// collects garbage first so heap figures count live memory (the load
// tool asks for that).
package metrics

import (
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry holding the Go runtime's and the
// process's collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves reg in the Prometheus text format. With ?gc=1 it first
// collects garbage, at most once a second however often it is asked.
func Handler(reg *prometheus.Registry) http.Handler {
	serve := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			collectGarbage()
		}
		serve.ServeHTTP(w, r)
	})
}

var lastGC struct {
	sync.Mutex
	at time.Time
}

// collectGarbage runs a collection unless one ran in the last second.
func collectGarbage() {
	lastGC.Lock()
	defer lastGC.Unlock()
	if time.Since(lastGC.at) >= time.Second {
		runtime.GC()
		lastGC.at = time.Now()
	}
}
