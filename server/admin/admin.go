// Package admin is Parley's admin side: the JSON API under /admin/api/
// (users, sessions, transcripts, usage, CSV exports), the privacy
// requests (erase, export), the online backup, the console's files under
// /admin/, and the admin token check every admin route shares.
//
// It needs the store, a clock, a logger and a small view of the widget
// gateway (Gateway); the server wires it in and routes to it.
package admin

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/parley-chat/parley/server/respond"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/story"
)

// Gateway is what the admin side asks of the live conversations: which
// sessions have a socket open, how long an idle one stays resumable (the
// sessions' statuses), and the stories' blocks.
type Gateway interface {
	storage.Liveness
	// StoryOrder returns the bot's blocks in the order a visitor meets
	// them, nil for a bot no site serves: the funnel lists blocks that
	// the same sessions reached in it.
	StoryOrder(bot string) []string
}

// Config is what an Admin needs. Store, Files, Gateway and Token must be set.
type Config struct {
	Store Store
	// Files reads the stored files' bytes (a visitor's export).
	Files   Files
	Gateway Gateway
	// Live runs the agents' actions and streams the inbox's events; nil
	// answers the inbox's actions with 503.
	Live Live
	// Token is the bearer token every admin route takes.
	Token string
	// DataDir holds the files a backup carries beside the store.
	DataDir string
	// ClientAddr names the client of a request for the failed sign-in
	// count (behind a trusted proxy, the address it names; an IPv6
	// client by its /64). Default: the TCP peer's IP address.
	ClientAddr func(*http.Request) string
	// Failures counts the failed sign-ins per client address (auth.go);
	// nil: in this process's memory, right for one node.
	Failures FailureLimiter
	// AgentSession is how long an agent's console stays signed in
	// (default DefaultAgentSession).
	AgentSession time.Duration
	Now          func() time.Time
	Logger       *slog.Logger
	// InputOptions returns a site's input rules (its phone region), with
	// which profile edits are validated; nil: a phone needs its +.
	InputOptions func(site string) story.InputOptions
	// Webhooks is the webhook delivery (webhooks.go); nil: no webhook routes.
	Webhooks Webhooks
	// GapScan bounds the unanswered texts a Knowledge gaps report reads
	// (0: storage.DefaultGapScan).
	GapScan int
}

// Admin serves the admin API and console.
type Admin struct {
	store      Store
	files      Files
	gw         Gateway
	token      string
	dataDir    string
	clientAddr func(*http.Request) string
	now        func() time.Time
	log        *slog.Logger
	inputs     func(site string) story.InputOptions
	errs       respond.Writer
	hooks      Webhooks
	gapScan    int
	// fails counts failed sign-ins per address over every route that
	// takes the admin token (auth.go).
	fails FailureLimiter
	// agentSession is how long an agent's console cookie lasts (signin.go).
	agentSession time.Duration
	// liveOpts acts on live conversations (inbox.go); done ends the
	// inbox's event streams at Close.
	liveOpts  Live
	done      chan struct{}
	closeOnce sync.Once
}

// Close ends the console's open event streams, so a graceful stop need
// not wait for them.
func (a *Admin) Close() {
	a.closeOnce.Do(func() { close(a.done) })
}

// New returns an Admin for cfg.
func New(cfg Config) *Admin {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AgentSession <= 0 {
		cfg.AgentSession = DefaultAgentSession
	}
	if cfg.Failures == nil {
		cfg.Failures = newFailureLimiter(FailBurst, FailWindow, time.Now)
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = peerIP
	}
	return &Admin{
		store: cfg.Store, files: cfg.Files, gw: cfg.Gateway, token: cfg.Token, dataDir: cfg.DataDir,
		clientAddr: cfg.ClientAddr, now: cfg.Now, log: cfg.Logger, inputs: cfg.InputOptions,
		errs: respond.Writer{Log: cfg.Logger}, gapScan: cfg.GapScan,
		hooks:        cfg.Webhooks,
		fails:        cfg.Failures,
		agentSession: cfg.AgentSession,
		liveOpts:     cfg.Live,
		done:         make(chan struct{}),
	}
}

// peerIP is the IP address of the request's TCP peer, without its port.
func peerIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }
