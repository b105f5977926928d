package server

import (
	"context"
	"fmt"
	"time"

	"github.com/parley-chat/parley/fileupload"
	"github.com/parley-chat/parley/server/admin"
	"github.com/parley-chat/parley/server/notify"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/webhook"
	"github.com/parley-chat/parley/widget"
)

// Store is the record store a Server runs on: all that its gateway,
// admin side, webhooks and upkeep need. Package storage (Badger, the
// default) and package storage/postgres are its engines.
type Store interface {
	widget.Store
	admin.Store
	webhook.Store
	notify.Store
	// SweepIdle ends the sessions idle past their site's timeout (idle.go).
	SweepIdle(ctx context.Context, now time.Time, live storage.Liveness, limit int) (storage.IdleSweep, error)
	// SweepRetention erases the visitors past their site's retention.
	SweepRetention(ctx context.Context, now time.Time, r storage.Retention) (storage.SweepResult, error)
	Close() error
}

// engine is the store a Server opened, with the parts that differ by
// engine: where file bytes go, and the Badger store's own upkeep (its
// indexes, value-log GC and disk watch), nil on PostgreSQL.
type engine struct {
	Store
	files  fileupload.Store
	badger *storage.Store
	// orphans deletes the chunks of uploads that never got their record
	// and began before a time: on PostgreSQL, where other nodes may be
	// uploading, it runs with a margin on the maintenance schedule.
	orphans func(ctx context.Context, before time.Time) (int, error)
}

var _ Store = (*storage.Store)(nil)

// openEngine opens the store cfg names: PostgreSQL for a postgres://
// cfg.Store (store_postgres.go), else Badger in cfg.DataDir.
func openEngine(cfg Config) (*engine, error) {
	if cfg.Store != "" {
		return openPostgres(cfg)
	}
	st, err := storage.Open(cfg.DataDir, storage.Options{SyncWrites: cfg.SyncWrites, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("server: %w", explainOpenError(cfg.DataDir, err))
	}
	return &engine{Store: st, files: storage.NewFiles(st), badger: st}, nil
}

// Files is where the uploads' bytes are kept, in the server's store.
func (s *Server) Files() fileupload.Store { return s.files }
