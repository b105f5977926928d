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
	// CopyMark is the progress of a parley migrate into the store, nil
	// for none (checkCopied).
	CopyMark(ctx context.Context) (*storage.CopyMark, bool, error)
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
// cfg.Store (store_postgres.go), else Badger in cfg.DataDir; it refuses a
// store a parley migrate has not finished filling.
func openEngine(cfg Config) (*engine, error) {
	var eng *engine
	if cfg.Store != "" {
		var err error
		if eng, err = openPostgres(cfg); err != nil {
			return nil, err
		}
	} else {
		st, err := storage.Open(cfg.DataDir, storage.Options{SyncWrites: cfg.SyncWrites, Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("server: %w", explainOpenError(cfg.DataDir, err))
		}
		eng = &engine{Store: st, files: storage.NewFiles(st), badger: st}
	}
	if err := checkCopied(eng.Store); err != nil {
		eng.Close()
		return nil, err
	}
	return eng, nil
}

// checkCopied refuses a store that a parley migrate began to fill and did
// not finish: serving it would show a part of the records as the whole.
func checkCopied(st Store) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mark, _, err := st.CopyMark(ctx)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if mark != nil && !mark.Done {
		return fmt.Errorf("server: a parley migrate from %s into this store has not finished (%d visitors copied so far): run the same parley migrate again to finish it, then serve", mark.Source, mark.Visitors)
	}
	return nil
}

// Files is where the uploads' bytes are kept, in the server's store.
func (s *Server) Files() fileupload.Store { return s.files }
