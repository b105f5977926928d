package server

import (
	"context"
	"fmt"
	"io"
	"os"
)

func init() {
	commands["check"] = command{"check that a stopped Parley's records and indexes agree", runCheck}
}

// runCheck is `parley check [--data DIR]`: it reads the whole store of a
// stopped Parley and reports where records and indexes disagree
// (storage.Store.Verify), for after a crash or a restore. Exit 1 if any.
// It never writes into DIR and refuses a directory that is not a Parley
// data directory.
func runCheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr)
	dir := fs.String("data", envOr(getenv, "PARLEY_DATA", "./parley-data"), "data directory of a stopped Parley (PARLEY_DATA)")
	scratch := fs.String("scratch", os.TempDir(), "where to copy a store that was not closed cleanly, to replay its log there and not in --data")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	store, closeStore, err := openReadOnly(*dir, *scratch, stdout) // datadir.go
	if err != nil {
		return err
	}
	defer closeStore()
	r, err := store.Verify(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d visitors, %d sessions, %d messages, %d acks, %d files\n", *dir, r.Visitors, r.Sessions, r.Messages, r.Acks, r.Files)
	if r.OrphanChunkFiles > 0 {
		fmt.Fprintf(stdout, "%d unfinished uploads left chunks behind; the next start removes them\n", r.OrphanChunkFiles)
	}
	for _, p := range r.Problems {
		fmt.Fprintln(stdout, "problem:", p)
	}
	if len(r.Problems) > 0 {
		return fmt.Errorf("%d problems: restore the last backup (parley restore) or report them", len(r.Problems))
	}
	fmt.Fprintln(stdout, "ok: records and indexes agree")
	return nil
}
