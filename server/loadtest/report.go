package loadtest

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Report is what one pass did, with the echo baseline's pass beside it.
type Report struct {
	Server   string  `json:"server"` // parley or echo
	Target   string  `json:"target"`
	Visitors int     `json:"visitors"`
	Rate     float64 `json:"rate"` // messages per second per visitor; 0 idle, < 0 as fast as acks return
	Duration string  `json:"duration"`

	Welcomed int `json:"welcomed"` // connected and welcomed
	Held     int `json:"held"`     // still open at the end
	Dropped  int `json:"dropped"`  // welcomed, then closed before the end
	Failed   int `json:"failed"`   // never welcomed

	Connect Summary `json:"connectLatency"`         // TCP and WebSocket handshake
	Welcome Summary `json:"welcomeLatency"`         // hello to welcome
	Again   Summary `json:"newConversationLatency"` // after a story's end, hello with new to welcome
	Ack     Summary `json:"ackLatency"`             // message to ack (echo: to its echo)
	Reply   Summary `json:"replyLatency"`           // message to the bot's first answer

	Sent int64 `json:"sent"`
	// Passed counts the paced turns a visitor let pass because its last
	// message was not answered yet: the server lagging behind --rate.
	Passed      int64   `json:"passed"`
	Acked       int64   `json:"acked"`
	AckedPerSec float64 `json:"ackedPerSec"` // over the run after the ramp

	Errors  map[string]int64 `json:"errors"`            // error frames by code; the tool's failures as tool_*, http_*, timeout
	Closes  map[string]int64 `json:"closes"`            // sockets lost during the run, by close code or cause
	Stalled *Stalled         `json:"stalled,omitempty"` // visitors that stopped reading (--stalled)
	Memory  *Memory          `json:"serverMemory,omitempty"`
	CPU     *CPU             `json:"serverCPU,omitempty"`
	// ToolCPU is this process's own CPU over the same span, where the
	// platform tells it. On a machine the tool shares with the server it
	// is the share of the cores the server did not get. It includes a
	// server in this process (the echo without Options.EchoCommand, or a
	// server in a test).
	ToolCPU *CPU `json:"toolCPU,omitempty"`
	// Parley's own histograms (metrics.go): how long a read frame waited
	// for a worker, and the store writes of turns and of new sessions.
	TurnWait     *ServerLatency `json:"serverTurnWait,omitempty"`
	StoreWrite   *ServerLatency `json:"serverStoreWrite,omitempty"`
	SessionStart *ServerLatency `json:"serverSessionStart,omitempty"`
	Notes        []string       `json:"notes,omitempty"`

	Baseline *Report `json:"baseline,omitempty"`
}

// WriteTable writes the report for people: Parley and, if run, the echo
// side by side.
func (r *Report) WriteTable(w io.Writer) {
	cols := []*Report{r}
	if r.Baseline != nil {
		cols = append(cols, r.Baseline)
	}
	mode := "idle"
	switch {
	case r.Rate < 0:
		mode = "each message sent when the previous one is answered"
	case r.Rate > 0:
		mode = fmt.Sprintf("%g msg/s each", r.Rate)
	}
	fmt.Fprintf(w, "parley loadtest: %d visitors, %s, for %s after connecting\n\n", r.Visitors, mode, r.Duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name string, f func(*Report) string) {
		fmt.Fprint(tw, name)
		for _, c := range cols {
			fmt.Fprint(tw, "\t", f(c))
		}
		fmt.Fprintln(tw, "\t")
	}
	row("", func(c *Report) string { return c.Server + " " + c.Target })
	row("connections held", func(c *Report) string { return fmt.Sprintf("%d / %d", c.Held, c.Visitors) })
	row("  never welcomed", func(c *Report) string { return fmt.Sprint(c.Failed) })
	row("  dropped during the run", func(c *Report) string { return fmt.Sprint(c.Dropped) })
	lat := func(s Summary) string {
		if s.Count == 0 {
			return "-"
		}
		return fmt.Sprintf("%s / %s / %s / %s ms", ms(s.P50), ms(s.P95), ms(s.P99), ms(s.Max))
	}
	row("latency p50 / p95 / p99 / max", func(*Report) string { return "" })
	row("  connect", func(c *Report) string { return lat(c.Connect) })
	row("  hello → welcome", func(c *Report) string { return lat(c.Welcome) })
	if r.Again.Count > 0 {
		row("  new conversation → welcome", func(c *Report) string { return lat(c.Again) })
	}
	row("  message → ack", func(c *Report) string { return lat(c.Ack) })
	row("  message → bot reply", func(c *Report) string { return lat(c.Reply) })
	row("acked messages/s", func(c *Report) string {
		return fmt.Sprintf("%.0f (%d acked of %d sent)", c.AckedPerSec, c.Acked, c.Sent)
	})
	if r.Rate > 0 {
		row("turns passed, bot not done answering", func(c *Report) string { return strconv.FormatInt(c.Passed, 10) })
	}
	row("errors", func(c *Report) string { return counts(c.Errors) })
	row("closed during the run", func(c *Report) string { return counts(c.Closes) })
	if r.Stalled != nil {
		row("visitors that stop reading", func(c *Report) string {
			if c.Stalled == nil {
				return "-"
			}
			s := c.Stalled
			return fmt.Sprintf("%d, sent %d, dropped %d (server: %d slow clients dropped)", s.Count, s.Sent, s.Dropped, s.ServerSD)
		})
	}
	cpu := func(c *CPU) string {
		switch {
		case c == nil:
			return "-"
		case c.PerAckedMicros > 0:
			return fmt.Sprintf("%.0f µs (%.1f s CPU in the run)", c.PerAckedMicros, c.Seconds)
		}
		return fmt.Sprintf("- (%.1f s CPU in the run)", c.Seconds)
	}
	row("server CPU per acked message", func(c *Report) string { return cpu(c.CPU) })
	row("load tool CPU per acked message", func(c *Report) string { return cpu(c.ToolCPU) })
	if r.TurnWait != nil || r.StoreWrite != nil || r.SessionStart != nil {
		upTo := func(l *ServerLatency) string {
			if l == nil || l.Count == 0 {
				return "-"
			}
			bound := func(v float64) string {
				if v == 0 {
					return "> 1 s"
				}
				return "≤ " + ms(v) + " ms"
			}
			return fmt.Sprintf("%s / %s (%d)", bound(l.P50UpTo), bound(l.P99UpTo), l.Count)
		}
		row("server, p50 / p99 (how many)", func(*Report) string { return "" })
		row("  frame read → worker", func(c *Report) string { return upTo(c.TurnWait) })
		row("  a turn's store write", func(c *Report) string { return upTo(c.StoreWrite) })
		row("  a new session's store write", func(c *Report) string { return upTo(c.SessionStart) })
	}
	row("server memory / connection", func(c *Report) string {
		if c.Memory == nil || c.Memory.Conns == 0 {
			return "-"
		}
		m := c.Memory
		return fmt.Sprintf("%.1f KiB (heap %.1f + stack %.1f); RSS %.1f KiB", m.PerConnKiB, m.PerConnHeapKiB, m.PerConnStackKiB, m.PerConnRSSKiB)
	})
	row("server RSS before / with visitors", func(c *Report) string {
		if c.Memory == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f / %.1f MB", c.Memory.RSSBefore/1e6, c.Memory.RSSAfter/1e6)
	})
	row("server goroutines before / with visitors", func(c *Report) string {
		if c.Memory == nil {
			return "-"
		}
		return fmt.Sprintf("%.0f / %.0f", c.Memory.GoroutinesBefore, c.Memory.GoroutinesAfter)
	})
	tw.Flush()
	if b := r.Baseline; b != nil {
		fmt.Fprintln(w)
		if b.AckedPerSec > 0 && r.AckedPerSec > 0 {
			fmt.Fprintf(w, "parley / echo: acked messages/s %.2f×", r.AckedPerSec/b.AckedPerSec)
			if r.Ack.Count > 0 && b.Ack.Count > 0 {
				fmt.Fprintf(w, ", ack p99 %.2f×", r.Ack.P99/b.Ack.P99)
			}
			fmt.Fprintln(w)
		}
		if r.CPU != nil && b.CPU != nil && b.CPU.PerAckedMicros > 0 && r.CPU.PerAckedMicros > 0 {
			fmt.Fprintf(w, "parley / echo: server CPU per acked message %.2f×\n", r.CPU.PerAckedMicros/b.CPU.PerAckedMicros)
		}
		if r.Memory != nil && b.Memory != nil && b.Memory.PerConnKiB > 0 {
			fmt.Fprintf(w, "parley / echo: memory per connection %.2f×\n", r.Memory.PerConnKiB/b.Memory.PerConnKiB)
		}
	}
	for _, c := range cols {
		for _, n := range c.Notes {
			fmt.Fprintf(w, "note (%s): %s\n", c.Server, n)
		}
	}
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func counts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
