package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/server/metrics"
)

// newMetrics builds what /metrics serves: the Go and process series, the
// gateway's counters, the webhook delivery's and the widget script's loads.
func (s *Server) newMetrics() *prometheus.Registry {
	reg := metrics.NewRegistry()
	reg.MustRegister(
		metrics.Gateway(&s.Gateway.Stats),
		metrics.Webhooks(s.Webhooks),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_widget_loads_total",
			Help: "Requests for /widget.js (page views that loaded the script; a browser's cache hides repeats within 5 min).",
		}, func() float64 { return float64(s.widgetLoads.Load()) }),
	)
	reg.MustRegister(s.storeMetrics()...) // storehealth.go
	reg.MustRegister(s.busMetrics()...)   // cluster.go
	reg.MustRegister(s.jobMetrics())      // jobs.go
	return reg
}

// metricsHandler serves the metrics, routed behind the admin token, and
// without one on --debug-addr.
func (s *Server) metricsHandler() http.Handler { return metrics.Handler(s.metrics) }
