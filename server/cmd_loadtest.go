package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/parley-chat/parley/server/loadtest"
)

func init() {
	commands["loadtest"] = command{"simulate visitors against a Parley and report latency, throughput and memory", runLoadtest}
}

func runLoadtest(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("loadtest", stderr)
	var o loadtest.Options
	fs.StringVar(&o.Addr, "addr", envOr(getenv, "PARLEY_ADDR", "127.0.0.1:8080"), "the Parley to load, host:port; the only address the tool makes load on")
	fs.StringVar(&o.MetricsURL, "metrics-url", "", "where to read the server's metrics (default http://ADDR/metrics, with the admin token from PARLEY_ADMIN_TOKEN); e.g. http://127.0.0.1:6060/metrics on Parley's --debug-addr, which needs no token")
	fs.StringVar(&o.Site, "site", "demo", "site ID")
	fs.StringVar(&o.Origin, "origin", "http://localhost", "Origin header, allowed by the site")
	fs.IntVar(&o.Visitors, "visitors", 100, "simulated visitors")
	fs.Float64Var(&o.Rate, "rate", 1, "messages per second per visitor once welcomed; 0 holds idle connections")
	asFast := fs.Bool("max", false, "send each next message as soon as the previous one is answered: acked and replied to by the bot, or by the echo (ignores --rate)")
	idle := fs.Bool("idle", false, "hold idle connections only (same as --rate 0)")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "how long to hold and send after the last visitor connected")
	fs.IntVar(&o.Concurrency, "concurrency", 100, "handshakes in flight")
	fs.Float64Var(&o.ConnectRate, "connect-rate", 0, "new connections per second (0: as fast as --concurrency allows)")
	spread := fs.String("spread", "auto", "give each visitor its own source address from this prefix; auto: 127.0.0.0/8 for a loopback target; off: the system's")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "bound on a handshake, a welcome, a write and the wait for an ack or a reply")
	fs.BoolVar(&o.Baseline, "baseline", false, "run the same visitors against a bare coder/websocket echo afterwards, started by the tool in a process of its own, and show it beside")
	fs.IntVar(&o.Stalled, "stalled", 0, "also connect this many visitors that stop reading after their welcome (a slow client)")
	fs.Float64Var(&o.StalledRate, "stalled-rate", 5, "messages per second each stalled visitor keeps sending")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	echoAddr := fs.String("echo-server", "", "run only the baseline echo server on this address (used by --baseline)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.MetricsURL == "" {
		// The admin token goes only to the address under load.
		o.MetricsToken = getenv("PARLEY_ADMIN_TOKEN")
	}
	if *echoAddr != "" {
		return loadtest.ServeEcho(ctx, *echoAddr, stdout)
	}
	if *idle {
		o.Rate = 0
	}
	if *asFast {
		o.Rate = -1
	}
	switch *spread {
	case "off", "":
	case "auto":
		if host, _, err := net.SplitHostPort(o.Addr); err == nil {
			if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() && a.Is4() {
				o.Spread = "127.0.0.0/8"
			}
		}
	default:
		o.Spread = *spread
	}
	if o.Baseline {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		o.EchoCommand = []string{exe, "loadtest", "--echo-server", "127.0.0.1:0"}
	}
	if !*quiet {
		o.Progress = stderr
	}
	if lim := loadtest.FileLimit(); lim > 0 && o.Visitors > lim-64 {
		fmt.Fprintf(stderr, "parley loadtest: %d visitors need as many open files, and this process may open %d; it will stop when it runs out\n", o.Visitors, lim)
	}
	rep, err := loadtest.Run(ctx, o)
	if rep != nil {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else {
			rep.WriteTable(stdout)
		}
	}
	if err == nil && ctx.Err() != nil {
		err = errors.New("interrupted")
	}
	return err
}
