package widget

import "time"

// The gateway's answers for the dashboard's status filters
// (storage.Liveness): which sessions have a socket open, and how long an
// idle one stays resumable.

// ActiveSessions returns the IDs of the sessions with a socket open now.
func (g *Gateway) ActiveSessions() []string { return g.hub.activeIDs() }

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
