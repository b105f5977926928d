package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
)

// Main runs the parley command with args (without the program name) and
// returns the exit code. ctx is cancelled on SIGINT or SIGTERM.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	if cmd == "help" {
		fmt.Fprintln(stdout, usage())
		return 0
	}
	c, ok := commands[cmd]
	if !ok {
		fmt.Fprintf(stderr, "parley: unknown command %q\n%s\n", cmd, usage())
		return 2
	}
	err := c.run(ctx, args, getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "parley %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// command is one subcommand of parley. Each lives in its own file
// (cmd_*.go) and registers itself in commands from an init function.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"serve": {"run the server (default)", func(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
		return runServe(ctx, args, getenv, stderr)
	}},
}

// newFlags is the flag set of the command name ("backup", "config
// check"): parse errors are returned, usage and errors go to stderr.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("parley "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func usage() string {
	names := slices.Sorted(maps.Keys(commands))
	var b strings.Builder
	b.WriteString("usage: parley [command] [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-9s %s\n", n, commands[n].summary)
	}
	b.WriteString("  help      show this text\n\nrun 'parley COMMAND -h' for a command's flags")
	return b.String()
}

// NewLogger is the server's log: JSON lines at level info, durations as
// Go duration text ("1.5s", "230ms") instead of slog's bare nanoseconds.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		},
	}))
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := ParseServeFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := NewLogger(stderr)
	cfg.Logger = log
	for _, p := range cfg.ConfigWarnings {
		log.Warn("config: "+p.String(), "file", p.File, "line", p.Line, "col", p.Col)
	}
	// More Go processors than cores, so compactions do not hold turns
	// back (procs.go).
	procs := oversubscribe(getenv)
	if soft := memoryLimit(getenv, os.DirFS("/")); soft > 0 { // memlimit.go
		debug.SetMemoryLimit(soft)
		log.Info("Go memory limit set from the container's", "bytes", soft, "share", memoryLimitShare)
	}
	srv, err := Open(*cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		srv.Close()
		return fmt.Errorf("listen: %w", err)
	}
	base := "http://" + ln.Addr().String()
	sites := make([]string, len(cfg.Sites))
	for i, s := range cfg.Sites {
		sites[i] = s.ID
	}
	attrs := []any{"addr", ln.Addr().String(), "console", base + "/admin/", "data", cfg.DataDir, "sites", sites, "gomaxprocs", procs}
	if srv.demo != nil {
		attrs = append(attrs, "demo", base+"/")
	}
	log.Info("parley listening", attrs...)
	switch {
	case srv.AdminTokenCreated:
		// Logged this once, at the start that made it, so the operator can
		// sign in; later starts only say where it is kept.
		log.Info("generated an admin token: sign in to the console with it", "console", base+"/admin/", "token", srv.AdminToken(), "file", filepath.Join(cfg.DataDir, "admin.token"))
	case getenv("PARLEY_ADMIN_TOKEN") == "":
		log.Info("admin token is kept in the data directory", "file", filepath.Join(cfg.DataDir, "admin.token"))
	}
	if cfg.DebugAddr != "" {
		stop, err := serveDebug(cfg.DebugAddr, srv.DebugHandler(), log) // debug.go
		if err != nil {
			srv.Close()
			ln.Close()
			return err
		}
		defer stop()
	}
	// SIGHUP and a change of the config or story files reload them
	// (reload.go); stopped with the server by ctx.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go srv.WatchConfig(wctx, hup, cfg.ConfigPoll)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	<-errc
	return nil
}
