package widget

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/story"
)

type storyError = story.Error

// handle runs one client frame.
func (c *conn) handle(ctx context.Context, f *ClientFrame) error {
	if f.Type == frameHello {
		if c.live.Load() != nil {
			if !f.New {
				return &FrameError{"bad_frame", "hello was already said"}
			}
			// Start over on the same socket, as the same visitor: leave
			// the session for a new one.
			c.leaveSession()
			c.knownByCookie = true
		}
		return c.hello(ctx, f)
	}
	if c.live.Load() == nil {
		return &FrameError{"hello_first", "the first frame must be hello"}
	}
	if f.Type == frameIdentify {
		return c.identifyLive(ctx, f) // identify.go: on any node
	}
	// The session's owner runs the frame: this node, or the one it is
	// forwarded to (cluster.go).
	return c.forward(ctx, f, func() error { return c.runOwned(ctx, f) })
}

// runOwned runs a frame of a session this node owns.
func (c *conn) runOwned(ctx context.Context, f *ClientFrame) error {
	switch f.Type {
	case frameTyping:
		// Only a person reads it: while one waits for or holds the
		// conversation, the console shows it.
		if ls := c.live.Load(); ls.paused.Load() {
			c.g.events.publish(Event{Type: EventTyping, Session: ls.id, Site: c.site.ID, Visitor: c.visitor, From: storage.FromVisitor})
		}
		return nil
	case frameText:
		if utf8.RuneCountInString(f.Text) > c.g.cfg.TextLimit {
			return &FrameError{"text_too_long", fmt.Sprintf("a message may have at most %d characters", c.g.cfg.TextLimit)}
		}
	}
	return c.turn(ctx, f)
}

// hello settles the visitor and the session and answers welcome.
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
	resumed := sess != nil
	var opening []storage.Message
	if !resumed {
		if reason, wait := g.starts.admitStart(c.ip, c.visitor, !known, now); reason != "" {
			c.refuseStart(reason, wait, now)
			return nil
		}
		// The session and its opening messages are one write: a crash
		// cannot leave a session that resumes without them.
		sess = &storage.Session{
			ID: storage.NewID(now), Site: site.ID, VisitorID: c.visitor,
			Bot: site.Story.Bot, Version: site.Story.Version, Type: site.Story.Type, Channel: "web",
			Device: c.device, Page: f.Page, StartedAt: now,
		}
		sess.Lang, sess.Locale = visitorLanguage(f.Lang, c.acceptLang)
		st := sess.State
		reply := site.Story.Begin(&st, now)
		stampTimeout(site, &st, now) // a story may ask for a person at once
		t := &storage.Turn{Messages: reply.Messages, State: &st, Touch: now}
		withUploadCaps(site, t)
		start := time.Now()
		err := g.store.StartSession(ctx, visitor, sess, t)
		g.Stats.observeWrite(time.Since(start))
		if err != nil {
			if errors.Is(err, storage.ErrTooLarge) {
				return errTooLarge
			}
			return err
		}
		opening = t.Messages
		g.Stats.SessionsStarted.Add(1)
	} else {
		g.Stats.SessionsResumed.Add(1)
	}

	ls := g.hub.acquire(sess.ID)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	c.live.Store(ls)
	if g.cluster != nil {
		// Several nodes: know the owner, and hear its notes before the
		// history is read, so the tab misses nothing in between.
		if err := g.cluster.settle(ctx, ls); err != nil {
			return err
		}
	}
	var history []storage.Message
	if resumed {
		if history, err = g.store.Messages(ctx, sess.ID, 0); err != nil {
			return err
		}
		if ls.acks == nil {
			ls.acks = acksOf(history)
		}
		ls.paused.Store(sess.State.Handover != nil)
	} else {
		ls.cache, ls.acks = sess, map[string]storage.Ack{}
		g.afterTurn(site, ls, nil) // agent.go
	}
	if n := len(history); n > 0 {
		c.seen = history[n-1].ID
	}
	ls.join(c)
	g.settle(c, c.visitor)
	c.enqueue(encode(welcomeFrame{
		Type: "welcome", Visitor: c.visitor, Token: g.keys.Sign(site.ID, c.visitor),
		Session: sess.ID, Resumed: resumed, History: toFrames(history), Handover: handoverOf(&ls.cacheOr(sess).State),
	}))
	for i := range opening {
		ls.broadcastMessage(&opening[i], nil)
	}
	if !resumed {
		announceEnd(ls, false, ls.cache)
	}
	return nil
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

// turn runs a text, choice, input or variables frame: it checks the client
// ID, runs the story on a copy of the state, stores the turn and only then
// acks it and pushes the answers to every tab of the session.
func (c *conn) turn(ctx context.Context, f *ClientFrame) error {
	g, ls, site := c.g, c.live.Load(), c.siteOf() // the current version, after a reload (reload.go)
	bot := site.Story
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if c.remote != nil {
		// A tab on another node (cluster.go): its frames go back in order.
		ls.remoteTurn = c
		defer func() { ls.remoteTurn = nil }()
	}
	now := g.cfg.Now()

	sess, err := g.session(ctx, ls)
	if err != nil {
		return err
	}
	// A resend of a stored client ID gets the original ack and stores
	// nothing, whatever it says: the owner holds the session's acks.
	if c.ackResend(ls, f.ID) {
		return nil
	}
	st := cloneState(sess.State)
	wasEnded := st.Ended
	if f.Type == frameText {
		// The label of an open question's option, typed: the click itself.
		if block, option := bot.TypedOption(&st, f.Text); option != "" {
			f = &ClientFrame{Type: frameChoice, ID: f.ID, Block: block, Option: option}
		}
	}
	visitorMsg := storage.Message{From: storage.FromVisitor, At: now, ClientID: f.ID}
	var reply story.Reply
	var unanswered bool // free text only the fallback answered
	kind := f.Type
	if story.Paused(&st) && kind != frameVariables {
		// A person waits for or holds the conversation: the visitor's
		// words are stored for them, and the bot says nothing.
		if kind != frameText {
			return &FrameError{"not_pending", "a person is answering now: write to them"}
		}
		visitorMsg.Kind, visitorMsg.Text = storage.KindText, f.Text
		st.LastMessageType, st.LastMessageContent = "text", f.Text
		kind = "" // none of the cases below
	}
	if kind != frameVariables && bot.Lost(&st) {
		visitorMsg, reply = rejoin(bot, f, &st, now)
		kind = "" // none of the cases below
	}
	switch kind {
	case frameChoice:
		label, r, err := bot.Choose(&st, f.Block, f.Option, now)
		if err != nil {
			return err
		}
		visitorMsg.Kind, visitorMsg.Text, visitorMsg.Block, visitorMsg.Option = storage.KindChoice, storage.CleanText(label), f.Block, f.Option
		reply = r
	case frameInput, frameText:
		value, block := f.Value, f.Block
		if f.Type == frameText {
			value = f.Text
			if b := bot.PendingInput(&st); b != nil {
				block = b.ID
			}
		}
		if block == "" {
			visitorMsg.Kind, visitorMsg.Text = storage.KindText, f.Text
			if reply, err = bot.Text(&st, f.Text, now); err != nil {
				return err
			}
			unanswered = true
			break
		}
		r, err := bot.Answer(&st, block, value, site.Input, now)
		if err != nil {
			c.reask(ctx, ls, f.ID, err, r.Messages, now)
			return nil
		}
		visitorMsg.Kind, visitorMsg.Text, visitorMsg.Block, visitorMsg.Value = storage.KindInput, r.Input.Value, block, r.Input.Value
		reply = r
	case frameVariables:
		if changed, err := g.mergeHostVariables(&st, f.Variables); err != nil || !changed {
			return err
		}
		_, err := g.record(ctx, site, ls, &storage.Turn{SessionID: ls.id, State: &st})
		return err
	}

	visitorMsg.Trace = reply.Trace // where the story went when it said nothing
	// The tone of the visitor's text and whether it went unanswered (insight.go).
	gaps := observe(site, sess, &st, &visitorMsg, unanswered)
	t := &storage.Turn{SessionID: ls.id, ClientID: f.ID, Messages: append([]storage.Message{visitorMsg}, reply.Messages...), State: &st, Gaps: gaps}
	if reply.Input != nil {
		t.Inputs = []storage.Input{*reply.Input}
	}
	ack, err := g.record(ctx, site, ls, t)
	if err != nil {
		return err
	}
	c.enqueue(encode(toAck(f.ID, ack)))
	ls.broadcastMessage(&t.Messages[0], c)
	for i := range t.Messages[1:] {
		ls.broadcastMessage(&t.Messages[1+i], nil)
	}
	announceEnd(ls, wasEnded, ls.cache)
	return nil
}

// announceEnd tells every tab of the session that the story has ended,
// when the turn just stored (now the cached record) ended it. Callers
// hold ls.mu.
func announceEnd(ls *liveSession, wasEnded bool, sess *storage.Session) {
	if sess != nil && sess.State.Ended && !wasEnded {
		ls.broadcast(encode(endedFrame{Type: "ended", Session: ls.id}), nil)
	}
}

// ackResend answers a frame whose client ID is already stored with the
// original ack, and reports whether it did. Callers hold ls.mu, after
// Gateway.session.
func (c *conn) ackResend(ls *liveSession, ref string) bool {
	if ref == "" {
		return false
	}
	ack, ok := ls.acks[ref]
	if !ok {
		return false
	}
	c.enqueue(encode(toAck(ref, ack)))
	return true
}

// acksOf rebuilds a session's client-ID ledger from its history.
func acksOf(history []storage.Message) map[string]storage.Ack {
	acks := map[string]storage.Ack{}
	for i := range history {
		m := &history[i]
		if m.From == storage.FromVisitor && m.ClientID != "" {
			if _, ok := acks[m.ClientID]; !ok {
				acks[m.ClientID] = storage.Ack{ID: m.ID, At: m.At, Text: m.Text}
			}
		}
	}
	return acks
}

// reask answers an invalid input: the error frame to the sender, then the
// story's re-ask messages, stored and pushed to every tab.
func (c *conn) reask(ctx context.Context, ls *liveSession, ref string, cause error, msgs []storage.Message, now time.Time) {
	c.fail(ref, cause)
	if len(msgs) == 0 {
		return
	}
	t := &storage.Turn{SessionID: ls.id, Messages: msgs, Touch: now}
	if _, err := c.g.record(ctx, c.siteOf(), ls, t); err != nil {
		c.fail("", err)
		return
	}
	for i := range t.Messages {
		ls.broadcastMessage(&t.Messages[i], nil)
	}
}

// session returns the live session as its owner holds it, loading it and
// its acks from the store when the owner has none (a first turn after a
// resume, or after the keepalive dropped them). Callers hold ls.mu.
func (g *Gateway) session(ctx context.Context, ls *liveSession) (*storage.Session, error) {
	if ls.gone {
		return nil, storage.ErrNotFound
	}
	if g.cluster != nil {
		// Only the owner node writes a session (cluster.go); callers
		// forward to it first, so another owner here is a race lost.
		switch owner, err := g.cluster.ownerOf(ctx, ls); {
		case err != nil:
			return nil, err
		case owner != "":
			return nil, errElsewhere
		}
	}
	if ls.cache == nil {
		sess, err := g.store.Session(ctx, ls.id)
		if err != nil {
			return nil, err
		}
		ls.cache = sess
		ls.paused.Store(sess.State.Handover != nil)
	}
	if ls.acks == nil {
		acks, err := g.store.Acks(ctx, ls.id)
		if err != nil {
			return nil, err
		}
		ls.acks = acks
	}
	return ls.cache, nil
}

// record stores a turn of the live session from its owner's copy, timing
// the write, and moves the owner on: the session as recorded, the ack
// under its client ID. A failed write stores nothing, and the owner keeps
// the session as it was. Callers hold ls.mu, after Gateway.session.
func (g *Gateway) record(ctx context.Context, site *Site, ls *liveSession, t *storage.Turn) (storage.Ack, error) {
	if ls.gone || ls.cache == nil {
		return storage.Ack{}, storage.ErrNotFound
	}
	withUploadCaps(site, t)
	if t.State != nil {
		stampTimeout(site, t.State, g.cfg.Now())
	}
	t.Prev = ls.cache
	if g.cluster != nil {
		// Committed only while this node's ownership holds (storage.Turn).
		t.Node = ls.owner
	}
	start := time.Now()
	sess, ack, _, err := g.store.RecordTurn(ctx, t)
	g.Stats.observeWrite(time.Since(start))
	if err != nil {
		if errors.Is(err, storage.ErrTooLarge) {
			return storage.Ack{}, errTooLarge
		}
		return storage.Ack{}, err
	}
	prev := &t.Prev.State
	ls.cache = sess
	if t.ClientID != "" && ack.ID != "" {
		ls.acks[t.ClientID] = ack
	}
	g.afterTurn(site, ls, prev) // agent.go
	return ack, nil
}

// errTooLarge answers a turn that would pass storage.MaxStateBytes.
var errTooLarge = &FrameError{"session_too_large", "this conversation has reached its size limit"}

// withUploadCaps gives an upload prompt without its own cap the site's, so
// the widget can check a file's size before sending it.
func withUploadCaps(site *Site, t *storage.Turn) {
	for i := range t.Messages {
		if u := t.Messages[i].Upload; u != nil && u.MaxBytes <= 0 {
			t.Messages[i].Upload = &storage.UploadPrompt{Accept: u.Accept, MaxBytes: site.UploadMaxBytes}
		}
	}
}

// cloneState deep-copies st so the story can change the copy while the
// cached record stays as stored until the write succeeds.
func cloneState(st storage.State) storage.State {
	st.Variables = maps.Clone(st.Variables)
	st.HostVariables = maps.Clone(st.HostVariables)
	st.Goals = slices.Clone(st.Goals)
	st.Tags = slices.Clone(st.Tags)
	st.Reached = slices.Clone(st.Reached)
	if st.Handover != nil {
		h := *st.Handover
		st.Handover = &h
	}
	return st
}
