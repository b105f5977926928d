package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/storage"
)

// Options tune the engine. The zero value suits one small node.
type Options struct {
	// MaxConns caps the connections to the database (default 16). The
	// turn path uses one at a time (its group committer); the rest serve
	// reads and the admin.
	MaxConns int
	// StatementTimeout bounds every statement on the server (default
	// 10 s), so a stuck query frees its connection.
	StatementTimeout time.Duration
	// Logger receives the engine's warnings; nil discards them.
	Logger *slog.Logger
	// ReadOnly opens the database without writing to it (parley check):
	// no migration (a schema of another version is refused with
	// ErrSchemaVersion) and every transaction read-only.
	ReadOnly bool

	// dial, if set, opens the connections (tests: counting the bytes a
	// turn sends).
	dial pgconn.DialFunc
}

// Store is Parley's record store on PostgreSQL. It is safe for concurrent
// use, by several processes too.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	// onMerge is told of each visitor merged into another (OnMerge,
	// identify.go).
	onMerge atomic.Pointer[func(from, into string, sessions []string)]
	// turns group-commits the turns (commit.go); ob routes webhook
	// events into the outbox (enqueue.go).
	turns   turnPath
	ob      outbox
	refused refusals  // refused.go
	life    lifecycle // erase.go
	// node is this process as a node of a cluster, nil alone (owners.go).
	node atomic.Pointer[clusterNode]
}

// Open connects to the database the URL names (postgres://user@host/db?
// sslmode=…; a key=value string works too), checks it answers and brings
// its schema to this Parley's version (migrate.go). It returns
// ErrNewerSchema when a newer Parley migrated the database.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	conns := cmp.Or(opts.MaxConns, 16)
	if conns < 2 || conns > 10000 {
		return nil, fmt.Errorf("postgres: open: %d connections: want 2 to 10,000 (one for the turns' commits, the rest for reads)", conns)
	}
	cfg.MaxConns = int32(conns)
	timeout := cmp.Or(opts.StatementTimeout, 10*time.Second)
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(timeout.Milliseconds(), 10)
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		// (A URL may name the node: ?application_name=parley-2.)
		cfg.ConnConfig.RuntimeParams["application_name"] = "parley"
	}
	if opts.ReadOnly {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	if opts.dial != nil {
		cfg.ConnConfig.DialFunc = opts.dial
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if opts.ReadOnly {
		err = checkSchema(ctx, pool)
	} else if _, err = migrate(ctx, pool); err == nil {
		err = backfillGaps(ctx, pool) // gapcount.go: an older Parley's texts
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{pool: pool, log: log}
	s.turns.commits = newCommitter(s, timeout)
	return s, nil
}

// Close stores the refusals still counted in memory and closes the
// connections.
func (s *Store) Close() error {
	s.turns.commits.close()
	s.closeOutbox()
	// The refusals still counted in memory (refused.go).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := s.FlushRefused(ctx)
	cancel()
	s.pool.Close()
	return err
}

// Ping reports whether the database answers: /readyz.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// notFound translates "no rows" into storage.ErrNotFound, so callers see
// one sentinel whatever the engine.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.ErrNotFound
	}
	return err
}

// isUniqueViolation reports whether err is a duplicate key.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// unavailable marks an error of the connection to the database (it is
// down, restarting, unreachable, or a statement ran out of time) as
// storage.ErrUnavailable, so callers can say "try again in a moment"
// rather than "something went wrong". Other errors pass unchanged.
func unavailable(err error) error {
	if err == nil || errors.Is(err, storage.ErrUnavailable) {
		return err
	}
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		// 08: connection exceptions; 57P01-03: shutdown, crash, starting up;
		// 57014: the statement timeout.
		if !strings.HasPrefix(pe.Code, "08") && pe.Code != "57P01" && pe.Code != "57P02" && pe.Code != "57P03" && pe.Code != "57014" {
			return err
		}
	case pgconn.Timeout(err), errors.As(err, &ne), pgconn.SafeToRetry(err):
	default:
		var ce *pgconn.ConnectError
		if !errors.As(err, &ce) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return err
		}
	}
	return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
}
