package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
)

// Main runs the parley command with args (without the program name) and
// returns the exit code. ctx is cancelled on SIGINT or SIGTERM.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, args, getenv, stderr)
	case "help":
		fmt.Fprintln(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "parley: unknown command %q\n%s\n", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "parley %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

const usage = `usage: parley [command] [flags]

commands:
  serve    run the server (default)
  help     show this text

run 'parley COMMAND -h' for a command's flags`

func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := ParseServeFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg.Logger = log
	srv, err := New(*cfg)
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
	log.Info("parley listening", "addr", ln.Addr().String(), "demo", base+"/", "console", base+"/admin/", "data", cfg.DataDir, "sites", sites)
	if getenv("PARLEY_ADMIN_TOKEN") == "" {
		log.Info("admin token is kept in the data directory", "file", cfg.DataDir+string(os.PathSeparator)+"admin.token")
	}
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
