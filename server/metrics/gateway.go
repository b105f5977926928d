package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/widget"
)

// gateway exposes the widget gateway's counters (widget.Stats, atomic
// counters the gateway keeps) as the parley_* series, read at each scrape.
type gateway struct {
	s *widget.Stats

	open, total, started, resumed, in, out, slow *prometheus.Desc
	refused, closed, starts, errors, writes      *prometheus.Desc
	waits, starting                              *prometheus.Desc
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// Gateway returns a collector of the gateway's counters.
func Gateway(s *widget.Stats) prometheus.Collector {
	return &gateway{
		s:        s,
		open:     desc("parley_connections_open", "WebSocket connections open now."),
		total:    desc("parley_connections_total", "WebSocket connections accepted."),
		started:  desc("parley_sessions_started_total", "Sessions started."),
		resumed:  desc("parley_sessions_resumed_total", "Sessions resumed by a hello."),
		in:       desc("parley_frames_in_total", "Frames received from clients."),
		out:      desc("parley_frames_out_total", "Frames sent to clients."),
		slow:     desc("parley_slow_clients_dropped_total", "Connections dropped because their send queue filled or a write timed out."),
		refused:  desc("parley_connections_refused_total", "WebSocket handshakes refused (404, 403, 503), by reason.", "reason"),
		closed:   desc("parley_connections_closed_total", "Sockets closed by a protection, by reason.", "reason"),
		starts:   desc("parley_starts_refused_total", "Hellos whose new visitor or session a rate limit refused, by reason.", "reason"),
		errors:   desc("parley_errors_total", "Error frames sent, by code.", "code"),
		writes:   desc("parley_store_write_seconds", "Latency of store writes for conversation turns."),
		waits:    desc("parley_turn_wait_seconds", "Time a frame, once read, waited for a worker to start its turn."),
		starting: desc("parley_session_start_seconds", "Latency of the store writes of new sessions with their opening messages."),
	}
}

// Describe sends every series' description.
func (g *gateway) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{g.open, g.total, g.started, g.resumed, g.in, g.out, g.slow, g.refused, g.closed, g.starts, g.errors, g.writes, g.waits, g.starting} {
		ch <- d
	}
}

// Collect reads the counters now.
func (g *gateway) Collect(ch chan<- prometheus.Metric) {
	s := g.s
	ch <- prometheus.MustNewConstMetric(g.open, prometheus.GaugeValue, float64(s.ConnectionsOpen.Load()))
	for d, v := range map[*prometheus.Desc]int64{
		g.total: s.ConnectionsTotal.Load(), g.started: s.SessionsStarted.Load(), g.resumed: s.SessionsResumed.Load(),
		g.in: s.FramesIn.Load(), g.out: s.FramesOut.Load(), g.slow: s.SlowDropped.Load(),
	} {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	for d, byLabel := range map[*prometheus.Desc]map[string]int64{
		g.refused: s.RefusedByReason(), g.closed: s.ClosedByReason(), g.starts: s.StartsRefusedByReason(), g.errors: s.ErrorsByCode(),
	} {
		for label, v := range byLabel {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), label)
		}
	}
	buckets, count, sum := s.StoreWrites()
	ch <- prometheus.MustNewConstHistogram(g.writes, count, sum, buckets)
	buckets, count, sum = s.TurnWaits()
	ch <- prometheus.MustNewConstHistogram(g.waits, count, sum, buckets)
	buckets, count, sum = s.SessionStarts()
	ch <- prometheus.MustNewConstHistogram(g.starting, count, sum, buckets)
}
