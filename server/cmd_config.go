package server

import (
	"context"
	"errors"
	"fmt"
	"io"
)

func init() {
	commands["config"] = command{"check a sites config and its stories: parley config check FILE", runConfig}
}

// runConfig is `parley config check FILE`: it loads the config and every
// story it names as `parley serve` would, prints every problem (errors
// and warnings, each with file, line and column) and fails on errors.
func runConfig(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("config check", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: parley config check FILE\n\nchecks a sites config and the stories it names; exit 1 on errors, 0 with warnings only")
	}
	if len(args) == 0 || args[0] != "check" {
		fs.Usage()
		return errors.New("want: parley config check FILE")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want one FILE")
	}
	path := fs.Arg(0)
	sc, ps := CheckConfig(path)
	for _, p := range ps {
		fmt.Fprintln(stdout, p)
	}
	nErr, nWarn := len(ps.Errors()), len(ps.Warnings())
	if nErr > 0 {
		return fmt.Errorf("%s: %d errors, %d warnings", path, nErr, nWarn)
	}
	fmt.Fprintf(stdout, "%s: ok, %d sites, %d warnings\n", path, len(sc.Sites), nWarn)
	return nil
}
