package widget

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Reasons a handshake is refused, for the answer, the log and metrics.
const (
	refusedUnknownSite = "unknown_site"       // 404
	refusedOrigin      = "origin_not_allowed" // 403
	refusedShutdown    = "shutting_down"      // 503
	refusedCapacity    = "capacity"           // 503
	refusedPerIP       = "per_ip"             // 503
)

var refusedText = map[string]string{
	refusedUnknownSite: "unknown site",
	refusedOrigin:      "this page's origin is not allowed for this site",
	refusedShutdown:    "shutting down",
	refusedCapacity:    "the server is at its connection limit; try again later",
	refusedPerIP:       "too many connections from your address; try again later",
}

// refusalLogEvery is how often one reason of refusal may be logged: a
// misconfigured site, or someone probing, must not flood the log.
const refusalLogEvery = 10 * time.Second

// refusalLog lets one line per reason through every refusalLogEvery and
// counts the ones it held back, which the next line reports.
type refusalLog struct {
	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

// refuse answers a request for /v1/ws that cannot have a socket with the
// status and a small JSON body {"code","message"} any page may read (a
// browser hides a failed WebSocket's status from the page, so the widget
// asks again with a plain GET to learn why). A refused WebSocket
// handshake is counted and logged; such a plain GET is not.
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, status int, reason string) {
	if isUpgrade(r) {
		g.Stats.countRefused(reason)
		g.logRefusal(r, reason)
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", strconv.Itoa(5))
	}
	g.cfg.WriteError(w, r, status, reason, refusedText[reason])
}

// answerProbe answers a plain GET of /v1/ws that passed the site and
// origin checks: the socket would be accepted, so whatever failed for the
// widget was passing (the network, a full server) and it may retry.
func (g *Gateway) answerProbe(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "no-store")
	g.cfg.WriteError(w, r, http.StatusUpgradeRequired, "websocket_required", "this site and origin may connect; open a WebSocket")
}

// writeError is Config.WriteError's default: the body a server answers
// in Parley's JSON error shape, without its logging.
func writeError(w http.ResponseWriter, _ *http.Request, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"code": code, "message": message})
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// logRefusal logs a refused handshake, at most one line per reason every
// refusalLogEvery; the line says how many were held back before it.
func (g *Gateway) logRefusal(r *http.Request, reason string) {
	l := &g.refusals
	now := time.Now()
	l.mu.Lock()
	if l.last == nil {
		l.last, l.held = make(map[string]time.Time), make(map[string]int)
	}
	if t, ok := l.last[reason]; ok && now.Sub(t) < refusalLogEvery {
		l.held[reason]++
		l.mu.Unlock()
		return
	}
	held := l.held[reason]
	l.last[reason], l.held[reason] = now, 0
	l.mu.Unlock()
	g.cfg.Logger.Warn("websocket handshake refused", "reason", reason,
		"site", clip(r.URL.Query().Get("site")), "origin", clip(r.Header.Get("Origin")),
		"notLogged", held)
}

// clip shortens a value from the request for the log.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
