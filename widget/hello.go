package widget

import (
	"context"
	"errors"
	"time"

	"github.com/parley-chat/parley/storage"
)

// hello settles the visitor and the session and answers welcome: it
// decides who the tab is (cookie, token, identify) and whether the
// visitor resumes a session or may start one; the session itself then
// begins (Gateway.begin) and takes the tab in (liveSession.welcome).
func (c *conn) hello(ctx context.Context, f *ClientFrame) error {
	g, site := c.g, c.siteOf() // the current version, after a reload (reload.go)
	now := g.cfg.Now()
	known := c.knownByCookie
	if !known && f.Token != "" {
		if vid, ok := g.keys.Verify(site.ID, f.Token); ok {
			c.visitor, known = vid, true
		}
	}
	if f.User != nil {
		if err := c.identifyHello(ctx, site, f.User); err != nil { // identify.go
			return err
		}
		known = known || c.knownByCookie
	}
	visitor := &storage.Visitor{ID: c.visitor, Site: site.ID, Channel: "web", Device: c.device, CreatedAt: now, LastSeenAt: now}

	// A visitor first seen now has no session to resume.
	var sess *storage.Session
	var err error
	if known && !f.New {
		if sess, err = g.resumable(ctx, site, c.visitor, f.Session, now); err != nil {
			return err
		}
	}
	if sess == nil && known {
		// A browser whose visitor was merged into its user's (identify.go)
		// is that user: resume theirs.
		into, err := g.resolveMerged(ctx, c.visitor)
		if err != nil {
			return err
		}
		if into != c.visitor {
			c.visitor, visitor.ID = into, into
			if !f.New {
				if sess, err = g.resumable(ctx, site, c.visitor, f.Session, now); err != nil {
					return err
				}
			}
		}
	}
	if sess != nil {
		g.Stats.SessionsResumed.Add(1)
		return g.hub.acquire(sess.ID).welcome(ctx, site, c, sess, nil)
	}
	if reason, wait := g.starts.admitStart(c.ip, c.visitor, !known, now); reason != "" {
		c.refuseStart(reason, wait, now)
		return nil
	}
	sess = &storage.Session{
		ID: storage.NewID(now), Site: site.ID, VisitorID: c.visitor,
		Bot: site.Story.Bot, Version: site.Story.Version, Type: site.Story.Type, Channel: "web",
		Device: c.device, Page: f.Page, StartedAt: now,
	}
	sess.Lang, sess.Locale = visitorLanguage(f.Lang, c.acceptLang)
	opening, err := g.begin(ctx, site, visitor, sess)
	if err != nil {
		return err
	}
	return g.hub.acquire(sess.ID).welcome(ctx, site, c, sess, opening)
}

// resumable returns the session a hello may resume: the one it names, or
// the visitor's latest, if it is this visitor's, on this site, idle for
// less than the site's timeout and not ended (an ended conversation is
// never reopened). It returns nil when a new session is due.
func (g *Gateway) resumable(ctx context.Context, site *Site, visitor, named string, now time.Time) (*storage.Session, error) {
	var sess *storage.Session
	var err error
	if named != "" {
		sess, err = g.store.Session(ctx, named)
	} else {
		sess, err = g.store.LatestSession(ctx, visitor)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if sess.VisitorID != visitor || sess.Site != site.ID || sess.State.Ended || now.Sub(sess.LastActivityAt) >= site.SessionTimeout {
		return nil, nil
	}
	return sess, nil
}
