package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/parley-chat/parley/storage/postgres"
)

var _ Store = (*postgres.Store)(nil)

// isPostgres reports whether a --store value names PostgreSQL.
func isPostgres(store string) bool {
	return strings.HasPrefix(store, "postgres://") || strings.HasPrefix(store, "postgresql://")
}

// openPostgres opens the PostgreSQL store cfg.Store names, migrating its
// schema; Parley does not start while it cannot reach the database.
func openPostgres(cfg Config) (*engine, error) {
	if !isPostgres(cfg.Store) {
		return nil, fmt.Errorf("server: --store: want a postgres:// URL, or none for Badger in --data")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := cfg.Postgres
	opts.Logger = cfg.Logger
	st, err := postgres.Open(ctx, cfg.Store, opts)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	files := postgres.NewFiles(st)
	return &engine{Store: st, files: files, orphans: files.DeleteOrphans}, nil
}
