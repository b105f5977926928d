package loadtest

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// metrics is one scrape of /metrics: unlabelled samples by name, and the
// buckets of the histograms in serverHistograms by name with their labels
// (parley_turn_wait_seconds_bucket{le="0.01"}).
type metrics map[string]float64

// serverHistograms are the latency histograms of Parley's own that the
// report shows (the echo has none).
var serverHistograms = []string{turnWait, storeWrite, sessionStart}

const (
	turnWait     = "parley_turn_wait_seconds"
	storeWrite   = "parley_store_write_seconds"
	sessionStart = "parley_session_start_seconds"
)

// metricsSource is where a server's metrics are read: a URL and the
// bearer token it needs, if any.
type metricsSource struct {
	url, token string
}

// metricsClient reads metrics; it follows no redirect, so the tool reads
// only the URL it was given.
var metricsClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// scrape reads the metrics with gc=1, so heap figures are live memory.
func (src metricsSource) scrape(ctx context.Context) (metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	u, err := url.Parse(src.url)
	if err != nil {
		return nil, fmt.Errorf("metrics URL: %w", err)
	}
	q := u.Query()
	q.Set("gc", "1")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return nil, err
	}
	if src.token != "" {
		req.Header.Set("Authorization", "Bearer "+src.token)
	}
	resp, err := metricsClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("metrics: %s from %s (set PARLEY_ADMIN_TOKEN to the server's admin token, or --metrics-url to its --debug-addr's /metrics)", resp.Status, src.url)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("metrics: %s from %s", resp.Status, src.url)
	}
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.ContainsRune(name, '{') && !isServerBucket(name) {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			m[name] = v
		}
	}
	return m, sc.Err()
}

// Memory is the server's memory before the visitors came and while they
// were held, and what that makes per connection. Heap and stack come from
// the Go runtime after a collection; RSS from the kernel.
type Memory struct {
	Conns            int     `json:"conns"`
	HeapBefore       float64 `json:"heapInuseBeforeBytes"`
	HeapAfter        float64 `json:"heapInuseAfterBytes"`
	StackBefore      float64 `json:"stackInuseBeforeBytes"`
	StackAfter       float64 `json:"stackInuseAfterBytes"`
	RSSBefore        float64 `json:"rssBeforeBytes"`
	RSSAfter         float64 `json:"rssAfterBytes"`
	GoroutinesBefore float64 `json:"goroutinesBefore"`
	GoroutinesAfter  float64 `json:"goroutinesAfter"`
	// Per connection, in KiB: heap + stack (the figure the targets use),
	// its parts, and RSS.
	PerConnKiB      float64 `json:"perConnKiB"`
	PerConnHeapKiB  float64 `json:"perConnHeapKiB"`
	PerConnStackKiB float64 `json:"perConnStackKiB"`
	PerConnRSSKiB   float64 `json:"perConnRssKiB"`
}

// The series of the Go and process collectors (client_golang) that Parley
// and the echo baseline both serve.
const (
	heapInuse  = "go_memstats_heap_inuse_bytes"
	stackInuse = "go_memstats_stack_inuse_bytes"
	goroutines = "go_goroutines"
	resident   = "process_resident_memory_bytes"
	cpuSeconds = "process_cpu_seconds_total"
)

func memoryOf(before, after metrics, conns int) *Memory {
	if before == nil || after == nil {
		return nil
	}
	m := &Memory{
		Conns:      conns,
		HeapBefore: before[heapInuse], HeapAfter: after[heapInuse],
		StackBefore: before[stackInuse], StackAfter: after[stackInuse],
		RSSBefore: before[resident], RSSAfter: after[resident],
		GoroutinesBefore: before[goroutines], GoroutinesAfter: after[goroutines],
	}
	if conns > 0 {
		n := float64(conns) * 1024
		m.PerConnHeapKiB = (m.HeapAfter - m.HeapBefore) / n
		m.PerConnStackKiB = (m.StackAfter - m.StackBefore) / n
		m.PerConnKiB = m.PerConnHeapKiB + m.PerConnStackKiB
		m.PerConnRSSKiB = (m.RSSAfter - m.RSSBefore) / n
	}
	return m
}

// CPU is the CPU time a process (the server, or the tool itself) used from
// before the visitors connected until the end of the run, and that per
// acked message: the server's is the cost of a message, comparable with
// the echo's in the same run. It includes the handshakes and hellos of the
// ramp.
type CPU struct {
	Seconds        float64 `json:"seconds"`
	PerAckedMicros float64 `json:"perAckedMicros,omitempty"`
}

func cpuOf(before, after metrics, acked int64) *CPU {
	b, okb := before[cpuSeconds]
	a, oka := after[cpuSeconds]
	if !okb || !oka {
		return nil
	}
	return perAcked(a-b, acked)
}

func perAcked(seconds float64, acked int64) *CPU {
	c := &CPU{Seconds: seconds}
	if acked > 0 {
		c.PerAckedMicros = seconds / float64(acked) * 1e6
	}
	return c
}

func isServerBucket(name string) bool {
	for _, h := range serverHistograms {
		if strings.HasPrefix(name, h+"_bucket{") {
			return true
		}
	}
	return false
}

// ServerLatency is what one of the server's latency histograms counted
// during the run: how many, and the bucket bound at or under which half
// and 99 % of them were, in milliseconds (0 past the last bound).
type ServerLatency struct {
	Count   int64   `json:"count"`
	P50UpTo float64 `json:"p50UpToMs"`
	P99UpTo float64 `json:"p99UpToMs"`
}

// serverLatencyOf reads histogram name from the scrapes before and after
// the run; nil when the server does not have it.
func serverLatencyOf(before, after metrics, name string) *ServerLatency {
	n, ok := after[name+"_count"]
	if !ok || before == nil {
		return nil
	}
	l := &ServerLatency{Count: int64(n - before[name+"_count"])}
	type bucket struct{ le, n float64 }
	var bs []bucket
	prefix := name + `_bucket{le="`
	for k, v := range after {
		if le, ok := strings.CutPrefix(k, prefix); ok {
			if b, err := strconv.ParseFloat(strings.TrimSuffix(le, `"}`), 64); err == nil && !math.IsInf(b, 1) {
				bs = append(bs, bucket{b, v - before[k]})
			}
		}
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	upTo := func(q float64) float64 {
		for _, b := range bs {
			if b.n >= q*float64(l.Count) {
				return b.le * 1000
			}
		}
		return 0
	}
	if l.Count > 0 {
		l.P50UpTo, l.P99UpTo = upTo(0.5), upTo(0.99)
	}
	return l
}
