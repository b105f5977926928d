package server

import (
	"flag"
	"strings"

	"github.com/parley-chat/parley/server/notify"
)

// bindSMTPFlags binds the email settings (package notify), each with its
// PARLEY_* twin; the password is read from the environment only, so it
// never shows in a process list.
func bindSMTPFlags(fs *flag.FlagSet, getenv func(string) string, cfg *Config) {
	c := &cfg.SMTP
	fs.StringVar(&c.Addr, "smtp-addr", getenv("PARLEY_SMTP_ADDR"), "SMTP server host:port for the agents' emails; off when empty (PARLEY_SMTP_ADDR)")
	fs.StringVar(&c.From, "smtp-from", getenv("PARLEY_SMTP_FROM"), "sender address of the agents' emails (PARLEY_SMTP_FROM)")
	fs.StringVar(&c.Username, "smtp-user", getenv("PARLEY_SMTP_USER"), "SMTP user for AUTH PLAIN; the password is PARLEY_SMTP_PASSWORD (PARLEY_SMTP_USER)")
	fs.StringVar(&c.TLS, "smtp-tls", envOr(getenv, "PARLEY_SMTP_TLS", notify.TLSStartTLS), "starttls, tls (port 465) or none (a relay on a trusted network) (PARLEY_SMTP_TLS)")
	fs.StringVar(&cfg.PublicURL, "public-url", getenv("PARLEY_PUBLIC_URL"), "the address people reach Parley at, for the links in emails, e.g. https://chat.example.org (PARLEY_PUBLIC_URL; default http://ADDR)")
	c.Password = getenv("PARLEY_SMTP_PASSWORD")
}

// startNotify sends the agents' emails of the gateway's events, when an
// SMTP server is set.
func (s *Server) startNotify() {
	c := s.cfg.SMTP
	if c.Addr == "" {
		return
	}
	base := s.cfg.PublicURL
	if base == "" {
		base = "http://" + s.cfg.Addr
	}
	c.ConsoleURL = strings.TrimRight(base, "/") + "/admin/"
	events, stop := s.Gateway.Subscribe()
	s.stopNotify = stop
	go notify.New(c, s.Store, s.log).Run(events)
}

// endNotify stops the emails: the events end, the last one in flight goes.
func (s *Server) endNotify() {
	if s.stopNotify != nil {
		s.stopNotify()
	}
}
