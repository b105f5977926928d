// Package natstest runs a real NATS server (nats-server, embedded) on
// loopback for tests, which can stop it and start it again on the same
// address, as an operator restarting NATS would.
package natstest

import (
	"fmt"
	"net"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// Server is a NATS server on a loopback port of its own.
type Server struct {
	tb   testing.TB
	port int
	srv  *natsserver.Server
}

// Start runs a NATS server until the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tb: tb, port: natsserver.RANDOM_PORT}
	s.Restart()
	s.port = s.srv.Addr().(*net.TCPAddr).Port
	tb.Cleanup(s.Stop)
	return s
}

// URL is the server's nats:// address.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Stop shuts the server down; its clients lose their connections.
func (s *Server) Stop() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		s.srv = nil
	}
}

// Restart starts the server (again) on its address.
func (s *Server) Restart() {
	s.tb.Helper()
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: s.port, NoLog: true, NoSigs: true})
	if err != nil {
		s.tb.Fatalf("natstest: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		s.tb.Fatalf("natstest: the NATS server did not start")
	}
	s.srv = srv
}
