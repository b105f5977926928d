package widget

import (
	"context"
	"errors"

	"github.com/parley-chat/parley/storage"
)

// ErrNoUpload means the session is not waiting for a file and the site
// does not allow free uploads.
var ErrNoUpload = errors.New("widget: the session is not expecting a file")

// UploadRules returns what the session accepts now: the pending upload
// block's accept list and size cap (the site's cap where the block names
// none), else the site's free-upload rules. It returns ErrNoUpload when
// neither applies and storage.ErrNotFound for an unknown site or session.
func (g *Gateway) UploadRules(ctx context.Context, siteID, sessionID string) (accept []string, maxBytes int64, err error) {
	site := g.Site(siteID)
	if site == nil {
		return nil, 0, storage.ErrNotFound
	}
	ls := g.hub.acquire(sessionID)
	defer g.hub.release(ls)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	sess, err := ls.load(ctx)
	if errors.Is(err, errElsewhere) {
		// Another node owns it: its last stored state tells.
		sess, err = g.store.Session(ctx, sessionID)
	}
	if err != nil {
		return nil, 0, err
	}
	// A session idle past its timeout, or whose story ended, is over: a
	// file cannot move it on.
	if sess.State.Ended || g.cfg.Now().Sub(sess.LastActivityAt) >= site.SessionTimeout {
		return nil, 0, ErrNoUpload
	}
	if b := site.Story.PendingUpload(&sess.State); b != nil {
		max := b.MaxBytes
		if max <= 0 {
			max = site.UploadMaxBytes
		}
		return b.Accept, max, nil
	}
	if site.FreeUploads {
		return site.FreeUploadAccept, site.UploadMaxBytes, nil
	}
	return nil, 0, ErrNoUpload
}

// FileUploaded records a stored file as the visitor's message in the
// session, lets a waiting upload block go on, and pushes the message and
// the bot's answers to every socket of the session. It returns the stored
// visitor message.
func (g *Gateway) FileUploaded(ctx context.Context, siteID, sessionID string, f storage.FileRef) (storage.Message, error) {
	var msg storage.Message
	stored, err := g.onOwner(ctx, &ownerCall{Op: opFile, Session: sessionID, Site: siteID, File: &f}, func() error {
		var err error
		msg, err = g.fileUploaded(ctx, siteID, sessionID, f)
		return err
	})
	if stored != nil {
		msg = *stored
	}
	return msg, err
}

// fileUploaded is FileUploaded on the session's owner.
func (g *Gateway) fileUploaded(ctx context.Context, siteID, sessionID string, f storage.FileRef) (storage.Message, error) {
	site := g.Site(siteID)
	if site == nil {
		return storage.Message{}, storage.ErrNotFound
	}
	var msg storage.Message
	err := g.own(ctx, sessionID, func(ls *liveSession, sess *storage.Session) error {
		var err error
		msg, err = ls.upload(ctx, site, sess, f) // conversation.go
		return err
	})
	return msg, err
}
