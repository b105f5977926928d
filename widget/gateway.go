// Package widget is the server side of the chat: the WebSocket protocol
// (README.md, Wire contract), the session lifecycle (start, resume, idle
// timeout) and the story engine that answers, writing every turn to the
// store before it is acknowledged.
package widget

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-chat/parley/identity"
	"github.com/parley-chat/parley/storage"
)

// Config holds the gateway's limits. Zero fields take the defaults; the
// README's "Limits" section lists every one. Limits that can be switched
// off say so: a negative value disables them.
type Config struct {
	ReadLimit int64 // bytes per frame; larger closes with 1009 (default 8 KiB)
	TextLimit int   // characters per text; larger gets text_too_long (default 2000)

	// SendQueue is how many frames may wait for a connection's writer; a
	// client that lets it fill is dropped with 1013 (default 64).
	SendQueue int
	// WriteTimeout bounds the write of one frame; a client that does not
	// take it in time is dropped (default 10 s).
	WriteTimeout time.Duration
	// HandshakeTimeout is how long a new socket may take to say hello;
	// later it is closed with 1008 (default 10 s). The HTTP upgrade itself
	// is bounded by the server's ReadHeaderTimeout.
	HandshakeTimeout time.Duration
	// PingInterval: a connection from which nothing (no frame, no pong) was
	// read for this long is pinged (default 30 s).
	PingInterval time.Duration
	// PongTimeout: a ping not answered in this time marks a dead peer, and
	// its socket is closed without a close handshake (default 10 s).
	PongTimeout time.Duration
	// IdleTimeout: a connection from which nothing at all was read for this
	// long is a dead peer and is closed without a close handshake,
	// whatever became of its ping (default PingInterval + PongTimeout + 5 s).
	IdleTimeout time.Duration

	// MsgRate is the frames per second one connection may send, sustained,
	// and MsgBurst how many it may send at once (token bucket; defaults 5
	// and 20; MsgRate < 0 disables). A frame over the rate is refused with
	// error rate_limited and not stored.
	MsgRate  float64
	MsgBurst int
	// RateLimitClose is how many frames in a row may be refused for the
	// rate before the connection is closed with 1008 (default 10).
	RateLimitClose int

	// MaxConns caps the sockets open at once; beyond it the handshake gets
	// 503 (default: the process's open-file limit minus 512 kept for the
	// store and for answering the 503s; 10,000 where that limit is unknown;
	// < 0 disables).
	MaxConns int
	// MaxConnsPerIP caps the sockets open at once from one client address,
	// an IPv6 client counting by its /64; beyond it the handshake gets 503
	// (default 200; < 0 disables).
	MaxConnsPerIP int
	// NewVisitorsPerIP is how many new visitors one client address (an IPv6
	// client by its /64) may start a minute, NewSessionsPerIP how many new
	// sessions, and NewSessionsPerVisitor how many new sessions one visitor
	// may start; each is also the burst. A hello past one is refused with
	// error too_many_visitors or too_many_sessions and the socket closed
	// with 1008 (defaults 60, 120 and 20; < 0 disables).
	NewVisitorsPerIP      int
	NewSessionsPerIP      int
	NewSessionsPerVisitor int

	// HostVariables caps the host variables one session keeps, and
	// HostVariableBytes their names and values together; a variables frame
	// that would pass either is refused with too_many_variables and stores
	// nothing (defaults 100 and 16 KiB).
	HostVariables     int
	HostVariableBytes int

	// TurnWorkers is how many turns run at once, over all connections;
	// more wait for a free worker (default DefaultTurnWorkers).
	TurnWorkers int

	// ClientIP names the client's address for the per-IP cap. The default
	// is the peer address of the TCP connection; behind a reverse proxy use
	// a function that trusts X-Forwarded-For from that proxy only.
	ClientIP func(*http.Request) string

	// WriteError writes an HTTP error answer (the handshake's refusals)
	// in Parley's one JSON shape; the server passes its own. Default: a
	// {"code","message"} body.
	WriteError func(w http.ResponseWriter, r *http.Request, status int, code, message string)

	Now    func() time.Time
	Logger *slog.Logger
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
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = c.PingInterval + c.PongTimeout + 5*time.Second
	}
	if c.MsgRate == 0 {
		c.MsgRate = 5
	}
	if c.MsgBurst <= 0 {
		c.MsgBurst = 20
	}
	if c.RateLimitClose <= 0 {
		c.RateLimitClose = 10
	}
	if c.MaxConns == 0 {
		c.MaxConns = defaultMaxConns()
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = 200
	}
	if c.NewVisitorsPerIP == 0 {
		c.NewVisitorsPerIP = 60
	}
	if c.NewSessionsPerIP == 0 {
		c.NewSessionsPerIP = 120
	}
	if c.NewSessionsPerVisitor == 0 {
		c.NewSessionsPerVisitor = 20
	}
	if c.HostVariables <= 0 {
		c.HostVariables = 100
	}
	if c.HostVariableBytes <= 0 {
		c.HostVariableBytes = 16 << 10
	}
	if c.TurnWorkers <= 0 {
		c.TurnWorkers = DefaultTurnWorkers
	}
	if c.ClientIP == nil {
		c.ClientIP = PeerIP
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.WriteError == nil {
		c.WriteError = writeError
	}
}

// Gateway serves GET /v1/ws and runs conversations.
type Gateway struct {
	cfg   Config
	store Store
	keys  *identity.Keyring
	sites atomic.Pointer[map[string]*Site] // swapped whole by SetSites (reload.go)
	hub   hub
	// workers run the turns, off the connections' own goroutines.
	workers workers
	// starts limit new visitors and sessions (startlimit.go).
	starts startLimits
	// Stats counts connections, frames, errors and store latency.
	Stats Stats
	// events tells the console of conversations changing (events.go).
	events events
	// cluster joins the gateway to the other nodes of its store; nil
	// alone (cluster.go).
	cluster *cluster
	tabs    atomic.Uint64 // numbers the sockets, for their tab names

	// epoch is the origin of the monotonic nanoseconds conns keep for the
	// transport timers (never cfg.Now, which tests move by hours).
	epoch time.Time

	refusals refusalLog // rate-limits the log of refused handshakes

	mu       sync.Mutex
	closing  bool
	conns    map[*conn]string     // every open socket, with its visitor once hello settled it
	perIP    map[netip.Addr]int32 // sockets open (or being opened) per client address
	reserved int                  // sockets admitted and not yet gone, for MaxConns
	connsWG  sync.WaitGroup
	baseCtx  context.Context
	cancelFn context.CancelFunc
}

// DefaultTurnWorkers is how many turns may be in flight at once. A turn
// spends most of its time waiting for its group commit (storage), and a
// commit takes every turn queued meanwhile: the bound must let many turns
// wait together, or it caps the batch. 8 × GOMAXPROCS (the default before)
// did: with 1,000 visitors sending as fast as answered, 1,024 workers
// rather than 128 acked 12 % more turns for 9 % less CPU each, with an ack
// p99 of 63 ms instead of 276 (README, Performance). What the bound keeps
// in check now is the workers' stacks.
const DefaultTurnWorkers = 1024

// New returns a gateway for the given sites. It starts one goroutine that
// pings quiet connections and closes dead ones; Shutdown stops it.
func New(cfg Config, store Store, keys *identity.Keyring, sites []*Site) *Gateway {
	cfg.setDefaults()
	g := &Gateway{
		cfg:     cfg,
		store:   store,
		keys:    keys,
		conns:   make(map[*conn]string),
		perIP:   make(map[netip.Addr]int32),
		hub:     hub{sessions: make(map[string]*liveSession)},
		epoch:   time.Now(),
		workers: newWorkers(cfg.TurnWorkers),
		starts:  newStartLimits(&cfg),
	}
	g.hub.g = g
	g.baseCtx, g.cancelFn = context.WithCancel(context.Background())
	g.SetSites(sites)
	// An erase (an admin's, or a retention sweep's) stops the visitor's
	// live sessions before it deletes them.
	store.OnErase(g.erased)
	// A verified identify that merges a browser's visitor re-points the
	// owners of its live sessions (identify.go).
	store.OnMerge(g.merged)
	go g.keepalive()
	// A wait for a person outlives a restart (agent.go).
	g.resumeTimeouts()
	return g
}

// Site returns the site with the given ID, or nil.
func (g *Gateway) Site(id string) *Site { return (*g.sites.Load())[id] }

// JoinCluster makes the gateway one node of several sharing its store
// (cluster.go); call it once, after New and before serving.
func (g *Gateway) JoinCluster(c Cluster) error {
	cl := &cluster{Cluster: c, g: g}
	g.hub.cluster, g.events.cluster = cl, cl
	if err := cl.join(); err != nil {
		return err
	}
	g.cluster = cl
	return nil
}

// Active reports whether a socket is open on the session now: on this
// node, or with several nodes on any (its owner is alive).
func (g *Gateway) Active(sessionID string) bool {
	if g.hub.active(sessionID) {
		return true
	}
	if g.cluster == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(g.baseCtx, liveTimeout)
	defer cancel()
	owner, err := g.cluster.Owners.SessionOwner(ctx, sessionID)
	return err == nil && owner != ""
}

// ServeHTTP accepts a WebSocket for GET /v1/ws?site=SITE: 404 for an
// unknown site, 403 for an Origin the site does not allow, 503 while
// shutting down or when the global or per-address connection cap is
// reached, each with a JSON reason (see refuse); a plain GET that passes
// the site and origin checks gets 426. The visitor cookie is (re)set on
// the handshake response.
//
// Its goroutine then reads the socket for as long as it is open; the
// handshake runs in a function of its own so that its large frame is off
// the stack while the connection idles in Read.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := g.accept(w, r)
	if c == nil {
		return
	}
	if !g.track(c) {
		g.release(c.ip)
		c.ws.Close(websocket.StatusGoingAway, "shutting down")
		return
	}
	// Return at once and serve the socket from a goroutine of our own:
	// while a handler runs, net/http keeps its request, response and their
	// header maps (the Set-Cookie among them) reachable, and its frames
	// hold the goroutine's stack at 8 KiB; together about 8 KiB an idle
	// socket for nothing (see README, Performance).
	go g.serve(c)
}

// serve runs a connection until it closes. net/http no longer guards this
// goroutine, so a panic is recovered here as it would have been there: the
// connection is dropped and the server goes on.
func (g *Gateway) serve(c *conn) {
	defer g.release(c.ip)
	defer g.untrack(c)
	defer func() {
		if v := recover(); v != nil {
			g.cfg.Logger.Error("panic serving a connection", "site", c.site.ID, "panic", v, "stack", string(debug.Stack()))
			c.ws.CloseNow()
		}
	}()
	c.run()
}

// accept checks the request, reserves a connection slot and upgrades. It
// returns nil, having answered the request, if it cannot.
//
//go:noinline
func (g *Gateway) accept(w http.ResponseWriter, r *http.Request) *conn {
	site := g.Site(r.URL.Query().Get("site"))
	if site == nil {
		g.refuse(w, r, http.StatusNotFound, refusedUnknownSite)
		return nil
	}
	if !site.AllowsOrigin(r.Header.Get("Origin")) {
		g.refuse(w, r, http.StatusForbidden, refusedOrigin)
		return nil
	}
	if !isUpgrade(r) {
		g.answerProbe(w, r)
		return nil
	}
	ip := ipKey(g.cfg.ClientIP(r), r)
	if refused := g.admit(ip); refused != "" {
		g.refuse(w, r, http.StatusServiceUnavailable, refused)
		return nil
	}

	// A valid cookie for a known visitor settles who this is. Otherwise the
	// ID is provisional: a token in hello may still name the visitor.
	vid, fromCookie := g.keys.VisitorFromRequest(r, site.ID)
	if r.URL.Query().Get("visitor") == "new" {
		// Parley.reset, a log-out: a new visitor, whatever the cookie says
		// (identify.go).
		fromCookie = false
	}
	if fromCookie {
		if ok, err := g.store.HasVisitor(r.Context(), vid); err != nil || !ok {
			// A visitor merged into its user's (identify.go) is that user,
			// and the cookie names them from now on.
			into, err := g.resolveMerged(r.Context(), vid)
			fromCookie = err == nil && into != vid
			vid = into
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
		g.release(ip)
		g.cfg.Logger.Debug("websocket accept failed", "err", err)
		return nil
	}
	ws.SetReadLimit(g.cfg.ReadLimit)
	c := &conn{
		g:             g,
		ws:            ws,
		site:          site,
		ip:            ip,
		visitor:       vid,
		knownByCookie: fromCookie,
		device:        deviceOf(r.UserAgent()),
		acceptLang:    r.Header.Get("Accept-Language"),
		opened:        g.mono(),
	}
	c.lastRead.Store(c.opened)
	c.tokens, c.refilled = float64(g.cfg.MsgBurst), c.opened
	if g.cluster != nil {
		c.tab = g.cluster.me() + "." + strconv.FormatUint(g.tabs.Add(1), 36)
	}
	return c
}

// admit reserves a connection slot for a client address, or names why it
// cannot: the gateway is closing, or a cap is reached. A slot admitted
// must be given back with release.
func (g *Gateway) admit(ip netip.Addr) (refused string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.closing:
		return refusedShutdown
	case g.cfg.MaxConns > 0 && g.reserved >= g.cfg.MaxConns:
		return refusedCapacity
	case g.cfg.MaxConnsPerIP > 0 && int(g.perIP[ip]) >= g.cfg.MaxConnsPerIP:
		return refusedPerIP
	}
	g.reserved++
	g.perIP[ip]++
	g.connsWG.Add(1)
	return ""
}

func (g *Gateway) release(ip netip.Addr) {
	g.mu.Lock()
	g.reserved--
	if n := g.perIP[ip] - 1; n > 0 {
		g.perIP[ip] = n
	} else {
		delete(g.perIP, ip)
	}
	g.mu.Unlock()
	g.connsWG.Done()
}

func (g *Gateway) track(c *conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.conns[c] = ""
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

// settle records the visitor hello settled for c, for DropVisitor.
func (g *Gateway) settle(c *conn, visitorID string) {
	g.mu.Lock()
	if _, ok := g.conns[c]; ok {
		g.conns[c] = visitorID
	}
	g.mu.Unlock()
}

// StatusErased closes the sockets of a visitor whose data was erased
// (DropVisitor), and a socket whose session is gone when it next speaks.
// The widget reconnects as usual and starts a new, empty conversation.
const StatusErased websocket.StatusCode = 4001

// DropVisitor closes every socket of the visitor with StatusErased, after
// its data was erased: its sessions are gone, so rather than answer each
// later frame with an error the widget reconnects and starts afresh. It
// returns how many sockets it closed.
func (g *Gateway) DropVisitor(visitorID string) int {
	g.mu.Lock()
	var drop []*conn
	var live []*liveSession
	for c, v := range g.conns {
		if v == visitorID {
			drop = append(drop, c)
			if ls := c.live.Load(); ls != nil {
				live = append(live, ls)
			}
		}
	}
	g.mu.Unlock()
	// The owners take no more turns: a turn in flight finishes (or is
	// refused by the store's fence) before gone is set.
	for _, ls := range live {
		ls.mu.Lock()
		ls.gone = true
		ls.mu.Unlock()
	}
	closed := 0
	for _, c := range drop {
		if c.closeErased() {
			closed++
		}
	}
	return closed
}

// erased closes the sockets of a visitor whose erasure has begun (the
// store's fence calls it), on every node, and logs how many: this is the
// one place that knows, since no socket is left for a later DropVisitor
// to find.
func (g *Gateway) erased(visitorID string) {
	if g.cluster != nil {
		g.cluster.publishVisitor(visitorNote{Erased: visitorID})
	}
	g.dropErased(visitorID)
}

// dropErased is erased on this node.
func (g *Gateway) dropErased(visitorID string) {
	if n := g.DropVisitor(visitorID); n > 0 {
		g.cfg.Logger.Info("erased visitor's sockets closed", "visitor", visitorID, "sockets", n)
	}
}

// mono is monotonic nanoseconds since the gateway started.
func (g *Gateway) mono() int64 { return int64(time.Since(g.epoch)) }

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
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.New("widget: shutdown: connections still open")
	}
	g.cancelFn()
	if g.cluster != nil {
		g.cluster.leave()
	}
	return err
}

func deviceOf(ua string) storage.Device {
	d := identity.ParseDevice(ua)
	return storage.Device{OS: d.OS, Browser: d.Browser, Mobile: d.Mobile, Bot: d.Bot}
}
