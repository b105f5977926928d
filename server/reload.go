package server

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// DefaultConfigPoll is how often the config and story files are checked
// for a change (size or modification time) that reloads them.
const DefaultConfigPoll = 2 * time.Second

// Reload reads the config file and its stories again. Without errors
// their sites and retention replace the running ones at once and every
// open conversation goes on with the new story at its next frame (a
// session waiting on a block the new story lacks goes to the story's
// start then: widget.Gateway.SetSites). A config with errors is refused:
// each problem is logged and the running config stays. Warnings are
// logged either way. Without a config file (the demo site) it does
// nothing.
func (s *Server) Reload() error {
	path := s.cfg.ConfigFile
	if path == "" {
		return nil
	}
	sc, ps := LoadConfig(path)
	for _, p := range ps {
		if p.Warning {
			s.log.Warn("config: "+p.String(), "file", p.File, "line", p.Line, "col", p.Col)
		} else {
			s.log.Error("config: "+p.String(), "file", p.File, "line", p.Line, "col", p.Col)
		}
	}
	if err := ps.Err(); err != nil {
		s.log.Error("config reload refused: the running config stays", "file", path, "errors", len(ps.Errors()))
		return fmt.Errorf("server: reload %s: %w", path, err)
	}
	s.conf.Store(sc)
	s.Gateway.SetSites(sc.Sites)
	s.Webhooks.SetEndpoints(sc.Webhooks)
	ids := make([]string, len(sc.Sites))
	for i, site := range sc.Sites {
		ids[i] = site.ID
	}
	s.log.Info("config reloaded", "file", path, "sites", ids, "warnings", len(ps))
	return nil
}

// WatchConfig reloads the config when hup delivers (SIGHUP) and when the
// config file or one of its story files changes, checked every poll
// (never when poll <= 0), until ctx ends.
func (s *Server) WatchConfig(ctx context.Context, hup <-chan os.Signal, poll time.Duration) {
	if s.cfg.ConfigFile == "" {
		return
	}
	var tick <-chan time.Time
	if poll > 0 {
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}
	seen := s.configStamp()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			s.Reload()
		case <-tick:
			if s.configStamp() == seen {
				continue
			}
			s.Reload()
		}
		// Whatever the outcome, wait for the next change: a refused
		// config is not tried again until it is edited.
		seen = s.configStamp()
	}
}

// configStamp sums up the size and modification time of the config file
// and the story files of the running config.
func (s *Server) configStamp() string {
	var b strings.Builder
	files := append([]string{s.cfg.ConfigFile}, s.conf.Load().Files...)
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", f, fi.Size(), fi.ModTime().UnixNano())
		} else {
			fmt.Fprintf(&b, "%s -\n", f)
		}
	}
	return b.String()
}
