package server

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"time"
)

// bindLimitFlags adds the gateway's protections to the serve flags, each
// with a PARLEY_* environment twin as its default; zero keeps
// widget.Config's default and a negative value switches a limit off where
// the README says it may. The returned check reports environment values
// that do not parse; call it after fs.Parse.
func bindLimitFlags(fs *flag.FlagSet, getenv func(string) string, cfg *Config) (check func() error) {
	l := &cfg.Limits
	b := limitBinder{fs: fs, getenv: getenv}
	b.int(&l.MaxConns, "max-conns", "PARLEY_MAX_CONNS", "sockets open at once; more get 503 (0: open-file limit - 512; -1: off)")
	b.int(&l.MaxConnsPerIP, "max-conns-per-ip", "PARLEY_MAX_CONNS_PER_IP", "sockets open at once per client address, IPv6 per /64 (0: 200; -1: off)")
	b.float(&l.MsgRate, "msg-rate", "PARLEY_MSG_RATE", "frames per second per socket, sustained (0: 5; -1: off)")
	b.int(&l.MsgBurst, "msg-burst", "PARLEY_MSG_BURST", "frames a socket may send at once (0: 20)")
	b.int(&l.RateLimitClose, "rate-limit-close", "PARLEY_RATE_LIMIT_CLOSE", "frames refused in a row for the rate before closing with 1008 (0: 10)")
	b.int64(&l.ReadLimit, "read-limit", "PARLEY_READ_LIMIT", "bytes per client frame; larger closes with 1009 (0: 8192)")
	b.int(&l.SendQueue, "send-queue", "PARLEY_SEND_QUEUE", "frames queued per socket before a slow client is dropped (0: 64)")
	b.dur(&l.WriteTimeout, "write-timeout", "PARLEY_WRITE_TIMEOUT", "time to write one frame before a slow client is dropped (0: 10s)")
	b.dur(&l.HandshakeTimeout, "handshake-timeout", "PARLEY_HANDSHAKE_TIMEOUT", "time from the upgrade to hello (0: 10s)")
	b.dur(&l.PingInterval, "ping-interval", "PARLEY_PING_INTERVAL", "ping a socket quiet this long (0: 30s)")
	b.dur(&l.PongTimeout, "pong-timeout", "PARLEY_PONG_TIMEOUT", "close a socket whose ping is not answered in this time (0: 10s)")
	b.int(&l.NewVisitorsPerIP, "new-visitors-per-ip", "PARLEY_NEW_VISITORS_PER_IP", "new visitors one client address (IPv6: /64) may start a minute, and at once; more get too_many_visitors (0: 60; -1: off)")
	b.int(&l.NewSessionsPerIP, "new-sessions-per-ip", "PARLEY_NEW_SESSIONS_PER_IP", "new sessions one client address (IPv6: /64) may start a minute, and at once; more get too_many_sessions (0: 120; -1: off)")
	b.int(&l.NewSessionsPerVisitor, "new-sessions-per-visitor", "PARLEY_NEW_SESSIONS_PER_VISITOR", "new sessions one visitor may start a minute, and at once; more get too_many_sessions (0: 20; -1: off)")
	b.int(&l.HostVariables, "host-variables", "PARLEY_HOST_VARIABLES", "host variables one session keeps; a frame past it gets too_many_variables (0: 100)")
	b.int(&l.HostVariableBytes, "host-variable-bytes", "PARLEY_HOST_VARIABLE_BYTES", "bytes of host variable names and values one session keeps (0: 16384)")
	b.int(&l.TurnWorkers, "turn-workers", "PARLEY_TURN_WORKERS", "conversation turns in flight at once over all sockets; more wait (0: 1024)")
	b.dur(&l.IdleTimeout, "idle-timeout", "PARLEY_IDLE_TIMEOUT", "close a socket nothing was read from for this long (0: ping-interval + pong-timeout + 5s)")

	u := &cfg.UploadLimits
	b.int(&u.Quota.Files, "upload-quota-files", "PARLEY_UPLOAD_QUOTA_FILES", "files one visitor may upload per UTC day; more get 429 (0: 50; -1: off)")
	b.int64(&u.Quota.Bytes, "upload-quota-bytes", "PARLEY_UPLOAD_QUOTA_BYTES", "bytes one visitor may upload per UTC day, all files together; more get 429 (0: 200 MiB; -1: off)")
	b.int(&u.MaxConcurrent, "upload-concurrency", "PARLEY_UPLOAD_CONCURRENCY", "uploads streaming at once; more wait for a slot, then get 503 (0: 16)")
	b.int(&u.MaxConcurrentPerVisitor, "upload-concurrency-per-visitor", "PARLEY_UPLOAD_CONCURRENCY_PER_VISITOR", "uploads one visitor may stream at once; more get 429 (0: 2; -1: off)")
	b.int(&u.MaxConcurrentPerAddr, "upload-concurrency-per-ip", "PARLEY_UPLOAD_CONCURRENCY_PER_IP", "uploads one client address, IPv6 per /64, may stream at once; more get 429 (0: 4; -1: off)")
	b.dur(&u.IdleTimeout, "upload-idle-timeout", "PARLEY_UPLOAD_IDLE_TIMEOUT", "end an upload whose body stops arriving for this long (0: 30s)")
	b.dur(&u.MaxDuration, "upload-max-duration", "PARLEY_UPLOAD_MAX_DURATION", "end an upload still arriving this long after it started, however steadily (0: 5m)")

	bindWebhookFlags(&b, &cfg.WebhookLimits) // config_webhooks.go
	b.int(&cfg.GapScan, "gaps-scan-limit", "PARLEY_GAPS_SCAN_LIMIT", "unanswered texts one Knowledge gaps report reads, newest first; past it the report covers the newest and says so (0: 200000; -1: off)")
	bindIdleFlags(&b, &cfg.IdleSweep) // idle.go
	bindJobFlags(&b, &cfg.Jobs)       // jobs.go

	set := func(s string) error {
		t, err := ParseTrustedProxies(s)
		if err != nil {
			return err
		}
		l.ClientIP = nil
		if len(t) > 0 {
			l.ClientIP = t.ClientIP
		}
		return nil
	}
	if v := getenv("PARLEY_TRUSTED_PROXIES"); v != "" {
		if err := set(v); err != nil {
			b.errs = append(b.errs, fmt.Errorf("PARLEY_TRUSTED_PROXIES: %w", err))
		}
	}
	fs.Func("trusted-proxies", "comma-separated CIDRs or addresses of reverse proxies whose X-Forwarded-For is believed (PARLEY_TRUSTED_PROXIES)", set)
	return func() error { return errors.Join(b.errs...) }
}

// limitBinder registers flags whose defaults come from the environment,
// collecting environment values that do not parse.
type limitBinder struct {
	fs     *flag.FlagSet
	getenv func(string) string
	errs   []error
}

func (b *limitBinder) env(name string, parse func(string) error) {
	if v := b.getenv(name); v != "" {
		if err := parse(v); err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s=%q: %w", name, v, err))
		}
	}
}

func (b *limitBinder) int(p *int, flagName, envName, usage string) {
	b.env(envName, func(s string) (err error) { *p, err = strconv.Atoi(s); return err })
	b.fs.IntVar(p, flagName, *p, usage+" ("+envName+")")
}

func (b *limitBinder) int64(p *int64, flagName, envName, usage string) {
	b.env(envName, func(s string) (err error) { *p, err = strconv.ParseInt(s, 10, 64); return err })
	b.fs.Int64Var(p, flagName, *p, usage+" ("+envName+")")
}

func (b *limitBinder) float(p *float64, flagName, envName, usage string) {
	b.env(envName, func(s string) (err error) { *p, err = strconv.ParseFloat(s, 64); return err })
	b.fs.Float64Var(p, flagName, *p, usage+" ("+envName+")")
}

func (b *limitBinder) dur(p *time.Duration, flagName, envName, usage string) {
	b.env(envName, func(s string) (err error) { *p, err = time.ParseDuration(s); return err })
	b.fs.DurationVar(p, flagName, *p, usage+" ("+envName+")")
}
