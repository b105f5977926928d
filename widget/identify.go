package widget

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/parley-chat/parley/identity"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/story"
)

// frameIdentify tells who the visitor is: the host page's logged-in user,
// signed by the site's backend (Parley.identify).
const frameIdentify = "identify"

// UserClaim is what the host page says of its logged-in user: the user ID
// with its identity hash (identity.UserHash with the site's identity
// secret) and, optionally, the user's name, email and phone.
type UserClaim struct {
	ID    string `json:"id"`
	Hash  string `json:"hash"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// maxUserName caps the name an identify may set, in characters.
const maxUserName = 200

// check refuses a claim whose fields are out of bounds.
func (u *UserClaim) check() error {
	switch {
	case u.ID == "" || len(u.ID) > storage.MaxPlatformIDLen:
		return &FrameError{"bad_frame", fmt.Sprintf("user.id must have 1 to %d bytes", storage.MaxPlatformIDLen)}
	case len(u.Hash) > 128 || len(u.Name) > 4*maxUserName || len(u.Email) > maxFieldLen || len(u.Phone) > 64:
		return &FrameError{"bad_frame", "a user field is too long"}
	case !storage.PlainName(u.ID):
		return &FrameError{"bad_frame", "user.id has control characters"}
	}
	return nil
}

// identifiedFrame answers a verified identify: from now on the socket is
// the user's visitor, and the widget keeps its token.
type identifiedFrame struct {
	Type    string `json:"type"` // identified
	Ref     string `json:"ref,omitempty"`
	User    string `json:"user"`
	Visitor string `json:"visitor"`
	Token   string `json:"token"`
	Merged  bool   `json:"merged"` // this browser's conversations joined the user's
}

// Refusals of an identify. Nothing changes: the visitor stays who it was.
var (
	errIdentityOff   = &FrameError{"identity_not_enabled", "this site has no identity secret: identify is off"}
	errIdentityForge = &FrameError{"identity_invalid", "the user's hash does not match: compute it on your server as HMAC-SHA256 of the user ID with this site's identity secret"}
)

// verifyClaim checks a claim against the site's identity secret and
// returns the profile it sets, its fields validated as inputs are.
func verifyClaim(site *Site, u *UserClaim) (storage.ProfileEdit, error) {
	var e storage.ProfileEdit
	if site.IdentitySecret == "" {
		return e, errIdentityOff
	}
	if !identity.VerifyUserHash(site.IdentitySecret, u.ID, u.Hash) {
		return e, errIdentityForge
	}
	if name := strings.TrimSpace(storage.CleanText(u.Name)); name != "" {
		if utf8.RuneCountInString(name) > maxUserName {
			return e, &FrameError{"bad_user", fmt.Sprintf("user.name may have at most %d characters", maxUserName)}
		}
		e.Name = &name
	}
	for _, f := range []struct {
		kind, value string
		to          **string
	}{{"email", u.Email, &e.Email}, {"phone", u.Phone, &e.Phone}} {
		if f.value == "" {
			continue
		}
		v, err := story.ValidateInput(f.kind, f.value, site.Input)
		if err != nil {
			msg := err.Error()
			var se *storyError
			if errors.As(err, &se) {
				msg = se.Message
			}
			return e, &FrameError{"bad_user", "user." + f.kind + ": " + msg}
		}
		*f.to = &v
	}
	e.By = storage.ByIdentify
	return e, nil
}

// identify verifies a claim and makes its user's visitor the socket's.
// On a refusal (a forged hash, identify off, a bad field) it returns the
// *FrameError and nothing changed.
func (c *conn) identify(ctx context.Context, site *Site, u *UserClaim) (*storage.IdentifyResult, error) {
	e, err := verifyClaim(site, u)
	if err != nil {
		return nil, err
	}
	e.At = c.g.cfg.Now()
	res, err := c.g.store.Identify(ctx, storage.IdentifyRequest{Site: site.ID, VisitorID: c.visitor, UserID: u.ID,
		Profile: e, Device: c.device, Channel: "web"})
	if err != nil {
		return nil, err
	}
	c.visitor = res.VisitorID
	c.g.settle(c, c.visitor)
	return res, nil
}

// identifyHello runs the claim a hello carries, before the hello settles
// the session: a refusal is answered as an error frame and the hello goes
// on as the visitor it was.
func (c *conn) identifyHello(ctx context.Context, site *Site, u *UserClaim) error {
	res, err := c.identify(ctx, site, u)
	var fe *FrameError
	if errors.As(err, &fe) {
		c.g.Stats.countError(fe.Code)
		c.enqueue(encode(errorFrame{Type: "error", Code: fe.Code, Message: fe.Message}))
		return nil
	}
	if err != nil {
		return err
	}
	c.knownByCookie = true // the hello's token names the browser's old visitor
	c.enqueue(encode(identifiedFrame{Type: "identified", User: u.ID, Visitor: res.VisitorID,
		Token: c.g.keys.Sign(site.ID, res.VisitorID), Merged: res.Merged != ""}))
	return nil
}

// identifyLive runs an identify frame on a socket with a session. A merge
// keeps the conversation (its owner now records as the user's visitor); a
// switch to another visitor (the browser was another user's) starts over,
// as a hello would, in the user's latest live session or a new one.
func (c *conn) identifyLive(ctx context.Context, f *ClientFrame) error {
	site := c.siteOf()
	before := c.visitor
	res, err := c.identify(ctx, site, f.User)
	if err != nil {
		return err
	}
	c.enqueue(encode(identifiedFrame{Type: "identified", Ref: f.ID, User: f.User.ID, Visitor: res.VisitorID,
		Token: c.g.keys.Sign(site.ID, res.VisitorID), Merged: res.Merged != ""}))
	if res.VisitorID == before || res.Merged == before {
		return nil
	}
	c.leaveSession()
	c.knownByCookie = true
	return c.hello(ctx, &ClientFrame{Type: frameHello})
}

// merged re-points the live owners of a merged visitor's sessions, and
// its sockets, at the visitor it went into (the store's OnMerge): their
// next turns are the user's.
func (g *Gateway) merged(from, into string, sessions []string) {
	if g.cluster != nil {
		g.cluster.publishVisitor(visitorNote{From: from, Into: into, Sessions: sessions})
	}
	g.mergedHere(from, into, sessions)
}

// mergedHere is merged on this node.
func (g *Gateway) mergedHere(from, into string, sessions []string) {
	for _, id := range sessions {
		g.hub.mu.Lock()
		ls := g.hub.sessions[id]
		g.hub.mu.Unlock()
		if ls == nil {
			continue
		}
		ls.mu.Lock()
		if ls.cache != nil {
			ls.cache.VisitorID = into
		}
		ls.mu.Unlock()
	}
	g.mu.Lock()
	for c, v := range g.conns {
		if v == from {
			g.conns[c] = into
		}
	}
	g.mu.Unlock()
}

// resolveMerged follows a visitor merged into another (an identified
// browser's cookie after the merge) to the one it went into.
func (g *Gateway) resolveMerged(ctx context.Context, visitorID string) (string, error) {
	into, err := g.store.MergedInto(ctx, visitorID)
	if err != nil || into == "" {
		return visitorID, err
	}
	return into, nil
}
