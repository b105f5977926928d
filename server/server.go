// Package server wires Parley together: configuration, the store, HTTP
// routing and middleware, the widget gateway, uploads, the admin API and
// console, and a graceful start and stop.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/parley-chat/parley/identity"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
)

// ShutdownTimeout bounds a graceful stop.
const ShutdownTimeout = 10 * time.Second

// Server is a running Parley: it owns the store and the HTTP mux.
type Server struct {
	cfg     Config
	log     *slog.Logger
	Store   *storage.Store
	Keys    *identity.Keyring
	Gateway *widget.Gateway

	mux  *http.ServeMux
	http *http.Server
	life lifecycle // retention sweeps and value-log GC (lifecycle.go)
}

// New opens the store and keys in cfg.DataDir and builds the routes. The
// caller must Close it.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Sites) == 0 {
		cfg.Sites = []*widget.Site{DemoSite()}
	}
	if err := checkDataDir(cfg.DataDir); err != nil { // lifecycle.go
		return nil, fmt.Errorf("server: %w", err)
	}
	keys, err := identity.LoadOrCreateKeyring(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if cfg.AdminToken == "" {
		if cfg.AdminToken, err = loadOrCreateAdminToken(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	store, err := storage.Open(cfg.DataDir, storage.Options{SyncWrites: cfg.SyncWrites, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("server: %w", explainOpenError(cfg.DataDir, err))
	}
	limits := cfg.Limits
	limits.Logger, limits.Now = cfg.Logger, cfg.Now
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		Store:   store,
		Keys:    keys,
		Gateway: widget.New(limits, store, keys, cfg.Sites),
		mux:     http.NewServeMux(),
	}
	s.routes()
	s.http = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Handler is the whole HTTP surface, for tests with httptest.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.startLifecycle()
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, closes the sockets with 1001, lets their
// writes finish and closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	errHTTP := s.http.Shutdown(ctx)
	errWS := s.Gateway.Shutdown(ctx)
	s.stopLifecycle()
	return errors.Join(errHTTP, errWS, s.Store.Close())
}

// Close releases the store without a graceful HTTP stop (tests that used
// Handler with httptest).
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	errWS := s.Gateway.Shutdown(ctx)
	s.stopLifecycle()
	return errors.Join(errWS, s.Store.Close())
}
