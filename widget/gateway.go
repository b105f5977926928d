// Package widget is the server side of the chat: the WebSocket protocol of
// DESIGN.md, the session lifecycle (start, resume, idle timeout) and the
// story engine that answers, writing every turn to the store before it is
// acknowledged.
package widget

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-chat/parley/identity"
	"github.com/parley-chat/parley/storage"
)

// Config holds the gateway's limits. Zero fields take the defaults.
type Config struct {
	ReadLimit    int64         // bytes per frame; larger closes with 1009 (default 8 KiB)
	TextLimit    int           // characters per text; larger gets text_too_long (default 2000)
	SendQueue    int           // frames queued per connection before it is dropped as slow (default 64)
	WriteTimeout time.Duration // per frame (default 10 s)
	PingInterval time.Duration // between pings (default 30 s)
	PongTimeout  time.Duration // wait for a pong before closing (default 10 s)
	Now          func() time.Time
	Logger       *slog.Logger
}

func (c *Config) setDefaults() {
	if c.ReadLimit <= 0 {
		c.ReadLimit = 8 << 10
	}
	if c.TextLimit <= 0 {
		c.TextLimit = 2000
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 64
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Gateway serves GET /v1/ws and runs conversations.
type Gateway struct {
	cfg   Config
	store *storage.Store
	keys  *identity.Keyring
	sites map[string]*Site
	hub   hub
	// Stats counts connections, frames, errors and store latency.
	Stats Stats

	mu       sync.Mutex
	closing  bool
	conns    map[*conn]struct{}
	connsWG  sync.WaitGroup
	baseCtx  context.Context
	cancelFn context.CancelFunc
}

// New returns a gateway for the given sites.
func New(cfg Config, store *storage.Store, keys *identity.Keyring, sites []*Site) *Gateway {
	cfg.setDefaults()
	g := &Gateway{
		cfg:   cfg,
		store: store,
		keys:  keys,
		sites: make(map[string]*Site, len(sites)),
		conns: make(map[*conn]struct{}),
		hub:   hub{sessions: make(map[string]*liveSession)},
	}
	g.baseCtx, g.cancelFn = context.WithCancel(context.Background())
	for _, s := range sites {
		if s.SessionTimeout <= 0 {
			s.SessionTimeout = 30 * time.Minute
		}
		g.sites[s.ID] = s
	}
	return g
}

// Site returns the site with the given ID, or nil.
func (g *Gateway) Site(id string) *Site { return g.sites[id] }

// Active reports whether a socket is open on the session now.
func (g *Gateway) Active(sessionID string) bool { return g.hub.active(sessionID) }

// ServeHTTP accepts a WebSocket for GET /v1/ws?site=SITE: 404 for an
// unknown site, 403 for an Origin the site does not allow, 503 while
// shutting down. The visitor cookie is (re)set on the handshake response.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	site := g.sites[r.URL.Query().Get("site")]
	if site == nil {
		http.Error(w, "unknown site", http.StatusNotFound)
		return
	}
	if !site.AllowsOrigin(r.Header.Get("Origin")) {
		http.Error(w, "origin not allowed for this site", http.StatusForbidden)
		return
	}
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	g.connsWG.Add(1)
	g.mu.Unlock()
	defer g.connsWG.Done()

	// A valid cookie for a known visitor settles who this is. Otherwise the
	// ID is provisional: a token in hello may still name the visitor.
	vid, fromCookie := g.keys.VisitorFromRequest(r, site.ID)
	if fromCookie {
		if _, err := g.store.Visitor(r.Context(), vid); err != nil {
			fromCookie = false
		}
	} else {
		vid = identity.NewVisitorID()
	}
	http.SetCookie(w, g.keys.Cookie(site.ID, vid))

	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// The origin was checked above against the site's own list.
		InsecureSkipVerify: true,
	})
	if err != nil {
		g.cfg.Logger.Debug("websocket accept failed", "err", err)
		return
	}
	ws.SetReadLimit(g.cfg.ReadLimit)
	c := &conn{
		g:             g,
		ws:            ws,
		site:          site,
		visitor:       vid,
		knownByCookie: fromCookie,
		device:        deviceOf(r.UserAgent()),
		send:          make(chan []byte, g.cfg.SendQueue),
		done:          make(chan struct{}),
	}
	if !g.track(c) {
		ws.Close(websocket.StatusGoingAway, "shutting down")
		return
	}
	defer g.untrack(c)
	c.run(g.baseCtx)
}

func (g *Gateway) track(c *conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.conns[c] = struct{}{}
	g.Stats.ConnectionsOpen.Add(1)
	g.Stats.ConnectionsTotal.Add(1)
	return true
}

func (g *Gateway) untrack(c *conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	g.Stats.ConnectionsOpen.Add(-1)
}

// Shutdown closes every socket with 1001 (going away) and waits for their
// handlers, and so their store writes, to finish or ctx to end.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.closing = true
	conns := make([]*conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	for _, c := range conns {
		c.closeWith(websocket.StatusGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() { g.connsWG.Wait(); close(done) }()
	select {
	case <-done:
		g.cancelFn()
		return nil
	case <-ctx.Done():
		g.cancelFn()
		return errors.New("widget: shutdown: connections still open")
	}
}

func deviceOf(ua string) storage.Device {
	d := identity.ParseDevice(ua)
	return storage.Device{OS: d.OS, Browser: d.Browser, Mobile: d.Mobile, Bot: d.Bot}
}
