package widget

import (
	"context"
	"time"
)

// The gateway's answers for the dashboard's status filters
// (storage.Liveness): which sessions have a socket open, and how long an
// idle one stays resumable.

// ActiveSessions returns the IDs of the sessions with a socket open now:
// on this node, or with several nodes on any (those a live node owns).
func (g *Gateway) ActiveSessions() []string {
	ids := g.hub.activeIDs()
	if g.cluster == nil {
		return ids
	}
	ctx, cancel := context.WithTimeout(g.baseCtx, liveTimeout)
	defer cancel()
	owned, err := g.cluster.Owners.OwnedSessions(ctx)
	if err != nil {
		g.cfg.Logger.Warn("active sessions of other nodes unknown", "err", err)
		return ids
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	for _, id := range owned {
		if !seen[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

// liveTimeout bounds the store's answer to which sessions are active on
// other nodes.
const liveTimeout = 5 * time.Second

// SessionTimeout is how long an idle session of the site may be resumed;
// 0 for a site the gateway no longer serves, whose sessions cannot be.
func (g *Gateway) SessionTimeout(site string) time.Duration {
	if s := g.Site(site); s != nil {
		return s.SessionTimeout
	}
	return 0
}

// MaxSessionTimeout is the longest session timeout of the sites served.
func (g *Gateway) MaxSessionTimeout() time.Duration {
	var d time.Duration
	for _, s := range *g.sites.Load() {
		d = max(d, s.SessionTimeout)
	}
	return d
}

// activeIDs returns the sessions with a socket open (not those held by
// an upload alone).
func (h *hub) activeIDs() []string {
	h.mu.Lock()
	held := make([]*liveSession, 0, len(h.sessions))
	for _, ls := range h.sessions {
		held = append(held, ls)
	}
	h.mu.Unlock()
	ids := make([]string, 0, len(held))
	for _, ls := range held {
		ls.mu.Lock()
		if ls.first != nil || len(ls.more) > 0 {
			ids = append(ids, ls.id)
		}
		ls.mu.Unlock()
	}
	return ids
}

// StoryOrder returns the blocks of the bot's story as a site serves it now
// (story.Order), nil when no site serves that bot.
func (g *Gateway) StoryOrder(bot string) []string {
	for _, s := range *g.sites.Load() {
		if s.Story != nil && s.Story.Bot == bot {
			return s.Story.Order()
		}
	}
	return nil
}
