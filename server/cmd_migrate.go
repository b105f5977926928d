package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres"
)

func init() {
	commands["migrate"] = command{"copy a stopped Parley's records between Badger and PostgreSQL", runMigrate}
}

// copyStore is either engine as a copy's source or destination.
type copyStore interface {
	storage.Dumper
	storage.Loader
}

// runMigrate is `parley migrate --from-data DIR --to postgres://…` or
// `parley migrate --from postgres://… --to-data DIR`: it copies every
// record of a stopped Parley's store into an empty one of the other
// engine (storage.Copy), going on where an interrupted run stopped, and
// checks both stores at the end as `parley check` does. Exit 1 on any
// problem or difference.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", stderr)
	fromData := fs.String("from-data", "", "data directory of a stopped Parley to copy from (Badger)")
	from := fs.String("from", "", "PostgreSQL database to copy from: postgres://user:password@host/db?sslmode=…")
	to := fs.String("to", "", "PostgreSQL database to copy into, empty or holding an interrupted copy of the same source")
	toData := fs.String("to-data", "", "data directory to copy into (Badger), empty or holding an interrupted copy of the same source")
	scratch := fs.String("scratch", os.TempDir(), "where to copy a source store that was not closed cleanly, to replay its log there and not in --from-data")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case *fromData != "" && *to != "" && *from == "" && *toData == "":
	case *from != "" && *toData != "" && *fromData == "" && *to == "":
	default:
		return errors.New("say what to copy: --from-data DIR --to postgres://… (Badger into PostgreSQL) or --from postgres://… --to-data DIR (back)")
	}
	var src, dst copyStore
	var source, dest string
	if *fromData != "" {
		st, closeStore, err := openReadOnly(*fromData, *scratch, stdout) // datadir.go
		if err != nil {
			return err
		}
		defer closeStore()
		pg, err := openCopyPostgres(ctx, *to, false)
		if err != nil {
			return err
		}
		defer pg.Close()
		src, dst, source, dest = st, pg, badgerSource(*fromData), postgresSource(*to)
	} else {
		pg, err := openCopyPostgres(ctx, *from, true)
		if err != nil {
			return err
		}
		defer pg.Close()
		st, err := openCopyDestination(*toData)
		if err != nil {
			return err
		}
		defer st.Close()
		src, dst, source, dest = pg, st, postgresSource(*from), badgerSource(*toData)
	}
	start := time.Now()
	fmt.Fprintf(stdout, "copying %s into %s\n", source, dest)
	r, err := storage.Copy(ctx, src, dst, source, stdout)
	if r.From != nil && r.To != nil {
		fmt.Fprintf(stdout, "source:      %d visitors, %d sessions, %d messages, %d acks, %d files\n", r.From.Visitors, r.From.Sessions, r.From.Messages, r.From.Acks, r.From.Files)
		fmt.Fprintf(stdout, "destination: %d visitors, %d sessions, %d messages, %d acks, %d files\n", r.To.Visitors, r.To.Sessions, r.To.Messages, r.To.Acks, r.To.Files)
		for _, p := range r.To.Problems {
			fmt.Fprintln(stdout, "problem in the destination:", p)
		}
	}
	if err != nil {
		if r.From == nil && !errors.Is(err, storage.ErrNotEmpty) {
			return fmt.Errorf("%w (run the same command again: it goes on where it stopped)", err)
		}
		return err
	}
	fmt.Fprintf(stdout, "ok: copied and checked in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// openCopyPostgres opens the database at url: a source read-only (a schema
// of another version is refused), a destination with its schema brought
// to this Parley's version.
func openCopyPostgres(ctx context.Context, url string, readOnly bool) (*postgres.Store, error) {
	st, err := postgres.Open(ctx, url, postgres.Options{StatementTimeout: time.Hour, ReadOnly: readOnly})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", postgresSource(url), err)
	}
	return st, nil
}

// openCopyDestination opens (making it if need be) the store a copy goes
// into: a missing or empty directory, or a Parley data directory, which
// Copy refuses unless it holds an interrupted copy of the same source.
func openCopyDestination(dir string) (*storage.Store, error) {
	d, err := readDataDir(dir) // datadir.go
	if err != nil {
		return nil, err
	}
	if !d.empty() && !d.parley() {
		return nil, fmt.Errorf("--to-data %s holds %s, which Parley did not write: give an empty or new directory", dir, listNames(d.foreign))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--to-data: %w", err)
	}
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		return nil, explainOpenError(dir, err) // token.go
	}
	return st, nil
}

// badgerSource names a data directory in a copy's mark.
func badgerSource(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return "badger:" + dir
}

// postgresSource names a database in a copy's mark and in messages,
// without its password.
func postgresSource(url string) string {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return "postgres (an unreadable URL)"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}
