// Package notify emails a site's agents when a conversation starts
// waiting for a person and when a lead arrives (a goal is reached), over
// the deployment's SMTP server.
package notify

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
)

// TLS modes of the SMTP connection.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS; refused if the server cannot
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no TLS at all: only for a relay on loopback or a private network
)

// Config is the deployment's SMTP settings. An empty Addr sends nothing.
type Config struct {
	Addr     string // host:port of the SMTP server
	From     string // the sender address
	Username string // for SMTP AUTH PLAIN; "" for none
	Password string
	TLS      string // TLSStartTLS (default), TLSImplicit or TLSNone
	// ConsoleURL is the console's address for the links in the emails,
	// e.g. https://chat.example.org/admin/.
	ConsoleURL string
	// Timeout bounds one email's delivery (default 30 s).
	Timeout time.Duration
	// ServerName checks the server's certificate; default the host of Addr.
	// RootCAs, when set, are the roots trusted for it (tests).
	TLSConfig *tls.Config
}

// Validate reports a setting that cannot work.
func (c *Config) Validate() error {
	if c.Addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("smtp address %q: want host:port", c.Addr)
	}
	if c.From == "" {
		return fmt.Errorf("smtp: a sender address (--smtp-from) is needed with --smtp-addr")
	}
	switch c.TLS {
	case "", TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return fmt.Errorf("smtp tls %q: want starttls, tls or none", c.TLS)
	}
	return nil
}

// Notifier sends the emails of a gateway's events.
type Notifier struct {
	cfg   Config
	store Store
	log   *slog.Logger
	// waiting remembers the conversations already announced as waiting,
	// so a visitor's messages while they wait send no more emails.
	waiting map[string]bool
}

// Store is what a Notifier reads: whom to tell and about whom.
type Store interface {
	Visitor(ctx context.Context, id string) (*storage.Visitor, error)
	Agents(ctx context.Context) ([]storage.Agent, error)
}

// New returns a notifier for cfg; cfg.Addr must be set.
func New(cfg Config, store Store, log *slog.Logger) *Notifier {
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Notifier{cfg: cfg, store: store, log: log, waiting: map[string]bool{}}
}

// Run sends the emails of events until the channel closes. One email at a
// time: a slow SMTP server delays the emails, never a conversation (the
// gateway drops events for a subscriber that falls far behind).
func (n *Notifier) Run(events <-chan widget.Event) {
	for ev := range events {
		if ev.Remote {
			continue // the node where it happened sends its email
		}
		subject, body, ok := n.compose(ev)
		if !ok {
			continue
		}
		to, err := n.recipients(ev.Site)
		if err != nil {
			n.log.Error("notify: agents not read", "err", err)
			continue
		}
		if len(to) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
		err = n.send(ctx, to, subject, body)
		cancel()
		if err != nil {
			n.log.Error("notify: email not sent", "session", ev.Session, "event", ev.Type, "err", err)
			continue
		}
		n.log.Info("notify: email sent", "session", ev.Session, "event", ev.Type, "recipients", len(to))
	}
}

// compose writes the email of an event, if it has one.
func (n *Notifier) compose(ev widget.Event) (subject, body string, ok bool) {
	switch {
	case ev.Type == widget.EventChanged && ev.Status == storage.HandoverWaiting:
		if n.waiting[ev.Session] {
			return "", "", false
		}
		n.waiting[ev.Session] = true
		who := n.label(ev.Visitor)
		return fmt.Sprintf("[Parley] %s is waiting for a person on %s", who, ev.Site),
			fmt.Sprintf("A visitor (%s) on %s asked to talk to a person.\r\n\r\nAnswer in the inbox: %s\r\n", who, ev.Site, n.link(ev.Session)), true
	case ev.Type == widget.EventChanged:
		delete(n.waiting, ev.Session)
	case ev.Type == widget.EventGoal:
		who := n.label(ev.Visitor)
		return fmt.Sprintf("[Parley] New lead on %s: %s", ev.Site, who),
			fmt.Sprintf("A visitor (%s) on %s reached the goal %q.\r\n\r\nThe conversation: %s\r\n", who, ev.Site, ev.Goal, n.link(ev.Session)), true
	}
	return "", "", false
}

// label names the visitor as the console does (email, phone, name or ID).
func (n *Notifier) label(visitorID string) string {
	v, err := n.store.Visitor(context.Background(), visitorID)
	if err != nil {
		return visitorID
	}
	return v.Label()
}

func (n *Notifier) link(session string) string {
	base := strings.TrimRight(n.cfg.ConsoleURL, "/") + "/"
	return base + "#/inbox/" + url.PathEscape(session)
}

// recipients are the addresses of the site's agents.
func (n *Notifier) recipients(site string) ([]string, error) {
	agents, err := n.store.Agents(context.Background())
	if err != nil {
		return nil, err
	}
	var to []string
	for _, a := range agents {
		if a.Email != "" && a.ForSite(site) {
			to = append(to, a.Email)
		}
	}
	return to, nil
}
