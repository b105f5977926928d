package server

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres"
)

func init() {
	commands["check"] = command{"check that a stopped Parley's records and indexes agree", runCheck}
}

// runCheck is `parley check [--data DIR | --store postgres://…]`: it reads
// the whole store of a stopped Parley (or, on PostgreSQL, of a running
// one, in one snapshot) and reports where records and indexes disagree
// (storage.Store.Verify, postgres.Store.Verify), for after a crash, a
// restore or a migration. Exit 1 if any. It never writes into DIR or the
// database and refuses a directory that is not a Parley data directory.
func runCheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr)
	dir := fs.String("data", envOr(getenv, "PARLEY_DATA", "./parley-data"), "data directory of a stopped Parley (PARLEY_DATA)")
	url := fs.String("store", getenv("PARLEY_STORE"), "check this PostgreSQL store (postgres://…) instead of --data (PARLEY_STORE)")
	scratch := fs.String("scratch", os.TempDir(), "where to copy a store that was not closed cleanly, to replay its log there and not in --data")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var verify func(context.Context) (*storage.VerifyReport, error)
	name := *dir
	if *url != "" {
		st, err := postgres.Open(ctx, *url, postgres.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer st.Close()
		verify, name = st.Verify, "the PostgreSQL store"
	} else {
		store, closeStore, err := openReadOnly(*dir, *scratch, stdout) // datadir.go
		if err != nil {
			return err
		}
		defer closeStore()
		verify = store.Verify
	}
	r, err := verify(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d visitors, %d sessions, %d messages, %d acks, %d files\n", name, r.Visitors, r.Sessions, r.Messages, r.Acks, r.Files)
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
