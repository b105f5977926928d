package server

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/lease"
)

// The periodic jobs that nodes sharing a store run one at a time (package
// lease; on Badger, one process, they simply run). Each webhook
// endpoint's delivery is a job of its own (webhook.Job).
const (
	jobRetention = "retention" // retention sweep, old failed sign-in counts (lifecycle.go)
	jobIdle      = "idle"      // sessions that timed out (idle.go)
	jobOrphans   = "orphans"   // chunks of uploads a crash cut short (lifecycle.go)
	jobNodes     = "nodes"     // dead nodes' rows, with several nodes (cluster.go)
)

// JobsConfig tunes how the nodes share the periodic jobs.
type JobsConfig struct {
	// Lease is how long a node's hold on a job lasts unless renewed; it
	// renews every third of it, and a node that dies leaves its jobs for
	// this long. 0: lease.DefaultTTL.
	Lease time.Duration
}

// minJobLease is the shortest --job-lease: a shorter one renews so often
// that a database's hiccup moves the jobs between nodes.
const minJobLease = time.Second

// bindJobFlags adds the job lease to the serve flags.
func bindJobFlags(b *limitBinder, c *JobsConfig) {
	parse := func(s string) error {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			return err
		case d != 0 && d < minJobLease:
			return fmt.Errorf("%v is shorter than %v", d, minJobLease)
		}
		c.Lease = d
		return nil
	}
	b.env("PARLEY_JOB_LEASE", parse)
	b.fs.Func("job-lease", "PostgreSQL: how long a node's hold on a periodic job (sweeps, a webhook endpoint's delivery) lasts unless renewed, every third of it; a dead node's jobs move after it, at least 1s (0: 30s) (PARLEY_JOB_LEASE)", parse)
}

// newJobs returns the node's jobs: shared through leases in the store
// when it keeps them (PostgreSQL), else all run here. The node holds
// leases under its --node-name (else its host's name) and a random ID.
func newJobs(cfg Config, st Store) *lease.Jobs {
	lc := lease.Config{Holder: lease.NewHolder(cfg.Cluster.Name), TTL: cfg.Jobs.Lease, Logger: cfg.Logger}
	if ls, ok := st.(lease.Store); ok {
		lc.Store = ls
	}
	return lease.New(lc)
}

// Jobs lists the periodic jobs running on this node now: retention, idle,
// orphans and webhook:{site}/{id}.
func (s *Server) Jobs() []string { return s.jobs.Held() }

// JobNode is this node's name in the job leases (job_leases.holder).
func (s *Server) JobNode() string { return s.jobs.Holder() }

// nodeJobs are the periodic jobs of this node and the count of their runs.
type nodeJobs struct {
	*lease.Jobs
	runs jobRuns
}

// jobRuns counts the runs of each job on this node, for the metrics.
type jobRuns struct {
	mu sync.Mutex
	n  map[string]int64
}

// ran counts a run of job.
func (r *jobRuns) ran(job string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int64{}
	}
	r.n[job]++
}

// jobsCollector is the jobs' series: which this node runs, and how often
// each sweep ran here.
type jobsCollector struct {
	s          *Server
	held, runs *prometheus.Desc
}

func (s *Server) jobMetrics() prometheus.Collector {
	return &jobsCollector{s: s,
		held: prometheus.NewDesc("parley_job_held", "1 for each periodic job this node runs now (on PostgreSQL the node holding its lease; webhook:{site}/{id} delivers that endpoint).", []string{"job"}, nil),
		runs: prometheus.NewDesc("parley_job_runs_total", "Sweeps this node ran, by job.", []string{"job"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.held; ch <- c.runs }

// Collect implements prometheus.Collector.
func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, job := range c.s.jobs.Held() {
		ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, 1, job)
	}
	r := &c.s.jobs.runs
	r.mu.Lock()
	defer r.mu.Unlock()
	for job, n := range r.n {
		ch <- prometheus.MustNewConstMetric(c.runs, prometheus.CounterValue, float64(n), job)
	}
}
