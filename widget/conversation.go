package widget

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/story"
)

// The conversation: a live session's owner makes every change to the
// session the same way, whatever asks for it (a tab's frame, an uploaded
// file, an agent's action, a hand-over's timeout). Under the session's
// lock it takes the session as it holds it (load), lets the story or the
// agent change a copy of the state, stores the result as one turn (record)
// and only then tells every tab (commit). The sockets (conn) and the
// gateway carry frames to it and back; they do no session work.

type storyError = story.Error

// begin stores a new session of the visitor on site with the story's
// opening messages, in one write: a crash cannot leave a session that
// resumes without them. It returns the opening; sess is as stored.
func (g *Gateway) begin(ctx context.Context, site *Site, visitor *storage.Visitor, sess *storage.Session) ([]storage.Message, error) {
	now := sess.StartedAt
	st := sess.State
	reply := site.Story.Begin(&st, now)
	stampTimeout(site, &st, now) // a story may ask for a person at once
	t := &storage.Turn{Messages: reply.Messages, State: &st, Touch: now}
	withUploadCaps(site, t)
	start := time.Now()
	err := g.store.StartSession(ctx, visitor, sess, t)
	g.Stats.begins.observe(time.Since(start))
	if errors.Is(err, storage.ErrTooLarge) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, err
	}
	g.Stats.SessionsStarted.Add(1)
	return t.Messages, nil
}

// welcome takes tab c into the session, whose holder c now is: sess as
// read from the store when resumed (opening nil), else as begin stored it
// with its opening messages. The tab gets the welcome with the history,
// then every tab the opening.
func (ls *liveSession) welcome(ctx context.Context, site *Site, c *conn, sess *storage.Session, opening []storage.Message) error {
	g, resumed := ls.g, opening == nil
	ls.mu.Lock()
	defer ls.mu.Unlock()
	c.live.Store(ls) // from now on the tab's to release, even if this fails
	if g.cluster != nil {
		// Several nodes: know the owner, and hear its notes before the
		// history is read, so the tab misses nothing in between.
		if err := g.cluster.settle(ctx, ls); err != nil {
			return err
		}
	}
	var history []storage.Message
	if resumed {
		var err error
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

// run runs fn as the session's owner: under its lock, with the session
// as the owner holds it (load).
func (ls *liveSession) run(ctx context.Context, fn func(sess *storage.Session) error) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	sess, err := ls.load(ctx)
	if err != nil {
		return err
	}
	return fn(sess)
}

// own runs fn as the owner of the session, whether or not a tab holds
// it: an upload, an agent's action or a timeout holds the session while
// fn runs.
func (g *Gateway) own(ctx context.Context, sessionID string, fn func(ls *liveSession, sess *storage.Session) error) error {
	ls := g.hub.acquire(sessionID)
	defer g.hub.release(ls)
	return ls.run(ctx, func(sess *storage.Session) error { return fn(ls, sess) })
}

// turn runs a text, choice, input or variables frame of tab from: it
// checks the client ID, runs the story on a copy of the state, stores the
// turn and only then acks it and pushes the answers to every tab.
func (ls *liveSession) turn(ctx context.Context, site *Site, from *conn, f *ClientFrame) error {
	return ls.run(ctx, func(sess *storage.Session) error {
		if from.remote != nil {
			// A tab on another node (cluster.go): its frames go back in order.
			ls.remoteTurn = from
			defer func() { ls.remoteTurn = nil }()
		}
		// A resend of a stored client ID gets the original ack and stores
		// nothing, whatever it says: the owner holds the session's acks.
		if f.ID != "" {
			if ack, ok := ls.acks[f.ID]; ok {
				from.enqueue(encode(toAck(f.ID, ack)))
				return nil
			}
		}
		return ls.runStory(ctx, site, from, f, sess)
	})
}

// runStory is turn's story step: what the frame says to the bot, on a
// copy of the state, and the turn it makes. Callers hold ls.mu.
func (ls *liveSession) runStory(ctx context.Context, site *Site, from *conn, f *ClientFrame, sess *storage.Session) error {
	g, bot, now := ls.g, site.Story, ls.g.cfg.Now()
	st := cloneState(sess.State)
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
			var err error
			if reply, err = bot.Text(&st, f.Text, now); err != nil {
				return err
			}
			unanswered = true
			break
		}
		r, err := bot.Answer(&st, block, value, site.Input, now)
		if err != nil {
			// An invalid input: the error to the sender, then the
			// story's re-ask, stored and pushed to every tab.
			from.fail(f.ID, err)
			if len(r.Messages) > 0 {
				if _, err := ls.commit(ctx, site, &storage.Turn{SessionID: ls.id, Messages: r.Messages, Touch: now}, nil, nil); err != nil {
					from.fail("", err)
				}
			}
			return nil
		}
		visitorMsg.Kind, visitorMsg.Text, visitorMsg.Block, visitorMsg.Value = storage.KindInput, r.Input.Value, block, r.Input.Value
		reply = r
	case frameVariables:
		if changed, err := g.mergeHostVariables(&st, f.Variables); err != nil || !changed {
			return err
		}
		_, err := ls.commit(ctx, site, &storage.Turn{SessionID: ls.id, State: &st}, nil, nil)
		return err
	}

	visitorMsg.Trace = reply.Trace // where the story went when it said nothing
	// The tone of the visitor's text and whether it went unanswered (insight.go).
	gaps := observe(site, sess, &st, &visitorMsg, unanswered)
	t := &storage.Turn{SessionID: ls.id, ClientID: f.ID, Messages: append([]storage.Message{visitorMsg}, reply.Messages...), State: &st, Gaps: gaps}
	if reply.Input != nil {
		t.Inputs = []storage.Input{*reply.Input}
	}
	_, err := ls.commit(ctx, site, t, from, nil)
	return err
}

// upload records a stored file as the visitor's message, lets a waiting
// upload block go on, and pushes the message and the bot's answers to
// every tab. It returns the stored visitor message. Callers hold ls.mu,
// after load.
//
// The file's ID is the turn's client ID, so a file is recorded once
// however often its call comes: a node that forwarded the upload asks
// again when the owner died before answering, and the next owner may
// find the file's message already stored.
func (ls *liveSession) upload(ctx context.Context, site *Site, sess *storage.Session, f storage.FileRef) (storage.Message, error) {
	cid := fileClientID(f.ID)
	if ack, ok := ls.acks[cid]; ok {
		return storage.Message{ID: ack.ID, From: storage.FromVisitor, Kind: storage.KindFile, At: ack.At, Text: ack.Text, File: &f, ClientID: cid}, nil
	}
	now := ls.g.cfg.Now()
	st := cloneState(sess.State)
	f.Block = st.Pending
	reply := site.Story.Uploaded(&st, f, now)
	msg := storage.Message{From: storage.FromVisitor, Kind: storage.KindFile, At: now, Text: f.Name, Block: f.Block, File: &f, Trace: reply.Trace, ClientID: cid}
	t := &storage.Turn{SessionID: ls.id, ClientID: cid, Messages: append([]storage.Message{msg}, reply.Messages...), State: &st}
	if _, err := ls.commit(ctx, site, t, nil, nil); err != nil {
		return storage.Message{}, err
	}
	return t.Messages[0], nil
}

// load returns the session as its owner holds it, loading it and its
// acks from the store when the owner has none (a first turn after a
// resume, or after the keepalive dropped them). Callers hold ls.mu.
func (ls *liveSession) load(ctx context.Context) (*storage.Session, error) {
	g := ls.g
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

// commit records t, the session's next turn, and then tells every tab:
// from (the tab whose frame t answers, nil for none) gets the ack and its
// other tabs its message; notice (nil for none) goes to every tab before
// the messages; then the rest of the messages, and "ended" when t ended
// the story. A failed write tells nobody. Callers hold ls.mu, after load.
func (ls *liveSession) commit(ctx context.Context, site *Site, t *storage.Turn, from *conn, notice []byte) (storage.Ack, error) {
	wasEnded := ls.cache != nil && ls.cache.State.Ended
	ack, err := ls.record(ctx, site, t)
	if err != nil {
		return storage.Ack{}, err
	}
	if from != nil {
		from.enqueue(encode(toAck(t.ClientID, ack)))
	}
	if notice != nil {
		ls.broadcast(notice, nil)
	}
	for i := range t.Messages {
		var skip *conn
		if i == 0 && from != nil {
			skip = from // the sender shows its own message already
		}
		ls.broadcastMessage(&t.Messages[i], skip)
	}
	announceEnd(ls, wasEnded, ls.cache)
	return ack, nil
}

// record stores a turn of the live session from its owner's copy, timing
// the write, and moves the owner on: the session as recorded, the ack
// under its client ID. A failed write stores nothing, and the owner keeps
// the session as it was. Callers hold ls.mu, after load.
func (ls *liveSession) record(ctx context.Context, site *Site, t *storage.Turn) (storage.Ack, error) {
	g := ls.g
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
	g.Stats.writes.observe(time.Since(start))
	if errors.Is(err, storage.ErrTooLarge) {
		return storage.Ack{}, errTooLarge
	}
	if err != nil {
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

// announceEnd tells every tab of the session that the story has ended,
// when the turn just stored (now the cached record) ended it. Callers
// hold ls.mu.
func announceEnd(ls *liveSession, wasEnded bool, sess *storage.Session) {
	if sess != nil && sess.State.Ended && !wasEnded {
		ls.broadcast(encode(endedFrame{Type: "ended", Session: ls.id}), nil)
	}
}

// acksOf rebuilds a session's client-ID ledger from its history.
func acksOf(history []storage.Message) map[string]storage.Ack {
	acks := map[string]storage.Ack{}
	for i := range history {
		m := &history[i]
		if m.ClientID != "" {
			if _, ok := acks[m.ClientID]; !ok {
				acks[m.ClientID] = storage.Ack{ID: m.ID, At: m.At, Text: m.Text}
			}
		}
	}
	return acks
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
