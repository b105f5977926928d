package server_test

import (
	"net/http/httptest"
	"testing"

	"github.com/parley-chat/parley/server"
)

// startServer runs a Parley built from cfg (on a temp data dir when cfg
// names none) behind httptest; both close when the test ends.
func startServer(tb testing.TB, cfg server.Config) (*server.Server, *httptest.Server) {
	tb.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	s, err := server.Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	tb.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		s.Close()
	})
	return s, ts
}
