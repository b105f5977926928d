package widget

import (
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/story"
)

// SetSites replaces the gateway's sites, e.g. after the config was
// reloaded, without touching a connection: each turn looks up its site's
// current version (siteOf), so a live conversation goes on with the new
// story at its next frame. A site no longer listed takes no new sockets;
// its open ones go on with the version they had.
func (g *Gateway) SetSites(sites []*Site) {
	m := make(map[string]*Site, len(sites))
	for _, s := range sites {
		if s.SessionTimeout <= 0 {
			s.SessionTimeout = 30 * time.Minute
		}
		m[s.ID] = s
	}
	g.sites.Store(&m)
}

// siteOf returns the current version of the connection's site.
func (c *conn) siteOf() *Site {
	if s := c.g.Site(c.site.ID); s != nil {
		return s
	}
	return c.site
}

// rejoin answers a frame of a session whose pending question a reload
// took away (story.Lost): the visitor's words are kept as text and the
// story starts again from its start, so the visitor always has a way on.
func rejoin(bot *story.Story, f *ClientFrame, st *storage.State, now time.Time) (storage.Message, story.Reply) {
	text := f.Text
	switch f.Type {
	case frameInput:
		text = f.Value
	case frameChoice:
		text = f.Option
	}
	msg := storage.Message{From: storage.FromVisitor, Kind: storage.KindText, At: now, ClientID: f.ID, Text: text}
	return msg, bot.Restart(st, now)
}
