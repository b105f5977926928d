package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/webhook"
)

// webhooks exposes the webhook delivery as the parley_webhook_* series,
// read at each scrape.
type webhooks struct {
	d *webhook.Dispatcher

	attempts, waiting, dropped, paused *prometheus.Desc
}

// Webhooks returns a collector of the webhook delivery's attempts and of
// each endpoint's backlog and pause.
func Webhooks(d *webhook.Dispatcher) prometheus.Collector {
	return &webhooks{
		d:        d,
		attempts: desc("parley_webhook_attempts_total", "Webhook delivery attempts, by outcome (delivered, failed, gave_up).", "outcome"),
		waiting:  desc("parley_webhook_events_waiting", "Webhook events waiting for an endpoint.", "endpoint"),
		dropped:  desc("parley_webhook_events_dropped_total", "Webhook events dropped for an endpoint whose backlog was full, since the start.", "endpoint"),
		paused:   desc("parley_webhook_endpoint_paused", "1 while an endpoint is paused after failing for a day.", "endpoint"),
	}
}

// Describe sends every series' description.
func (w *webhooks) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{w.attempts, w.waiting, w.dropped, w.paused} {
		ch <- d
	}
}

// Collect reads the counts now.
func (w *webhooks) Collect(ch chan<- prometheus.Metric) {
	for outcome, n := range w.d.Attempts() {
		ch <- prometheus.MustNewConstMetric(w.attempts, prometheus.CounterValue, float64(n), outcome)
	}
	eps, err := w.d.Endpoints(context.Background())
	if err != nil {
		return
	}
	for _, ep := range eps {
		name := ep.Site + "/" + ep.ID
		paused := 0.0
		if ep.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(w.waiting, prometheus.GaugeValue, float64(ep.Waiting), name)
		ch <- prometheus.MustNewConstMetric(w.dropped, prometheus.CounterValue, float64(ep.Dropped), name)
		ch <- prometheus.MustNewConstMetric(w.paused, prometheus.GaugeValue, paused, name)
	}
}
