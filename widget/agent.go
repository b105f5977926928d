package widget

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/story"
)

// Agent is the person who acts on a conversation from the console.
type Agent struct {
	Name        string // sign-in name, kept in the records
	DisplayName string // what the visitor sees
}

// Errors of the agents' actions.
var (
	// ErrHeldByOther: another agent holds the conversation.
	ErrHeldByOther = errors.New("widget: another agent holds the conversation")
	// ErrNotHeld: the action needs the conversation held by this agent.
	ErrNotHeld = errors.New("widget: the conversation is not held by this agent")
	// ErrEnded: the conversation has ended.
	ErrEnded = errors.New("widget: the conversation has ended")
	// ErrInactive: the visitor left the conversation longer ago than the
	// session timeout and has no socket open: it can never be resumed, so
	// nobody would read a reply.
	ErrInactive = errors.New("widget: the visitor left the conversation")
)

// handoverFrame tells the visitor's tabs who answers now: held (a person,
// Agent) or released (the bot again).
type handoverFrame struct {
	Type   string `json:"type"` // handover
	Status string `json:"status"`
	Agent  string `json:"agent,omitempty"`
}

// typingFrame says the agent is typing.
type typingFrame struct {
	Type  string `json:"type"` // typing
	From  string `json:"from"`
	Agent string `json:"agent,omitempty"`
}

// Take gives the conversation to the agent: one waiting for a person, or
// any other active one (its open question is asked again on hand back).
// Taking one the agent already holds is no error; one another agent holds
// fails with ErrHeldByOther, an ended one with ErrEnded, one the visitor
// left for good with ErrInactive.
func (g *Gateway) Take(ctx context.Context, sessionID string, a Agent) error {
	_, err := g.onOwner(ctx, &ownerCall{Op: opTake, Session: sessionID, Agent: &a}, func() error {
		return g.asOwner(ctx, sessionID, func(site *Site, ls *liveSession, sess *storage.Session, now time.Time) error {
			return g.takeWith(ctx, site, ls, sess, a, now, nil)
		})
	})
	return err
}

// Reply sends the agent's text to every tab of the visitor, stored as a
// message of the agent. A person replying takes the conversation over (in
// the same write), so the bot stops answering; the errors are Take's.
//
// clientID makes the reply idempotent, as a frame's ID does a visitor's
// message: a reply whose client ID the agent used in the session before
// stores nothing and returns the stored message. Where it is "" the reply
// gets one of its own, so a call made again to the next owner, after the
// owner died before answering, stores it once.
func (g *Gateway) Reply(ctx context.Context, sessionID string, a Agent, text, clientID string) (storage.Message, error) {
	if clientID == "" {
		clientID = storage.NewID(time.Now())
	}
	cid := replyClientID(a.Name, clientID) // apart from other agents' and the visitor's
	msg := storage.Message{From: storage.FromAgent, Kind: storage.KindAgent, Text: text, Agent: a.Name, AgentName: a.DisplayName, ClientID: cid}
	stored, err := g.onOwner(ctx, &ownerCall{Op: opReply, Session: sessionID, Agent: &a, Text: text, ClientID: clientID}, func() error {
		return g.asOwner(ctx, sessionID, func(site *Site, ls *liveSession, sess *storage.Session, now time.Time) error {
			if ack, ok := ls.acks[cid]; ok {
				msg.ID, msg.At, msg.Text = ack.ID, ack.At, ack.Text
				return nil
			}
			msg.At = now
			return g.takeWith(ctx, site, ls, sess, a, now, &msg)
		})
	})
	if stored != nil {
		msg = *stored
	}
	return msg, err
}

// takeWith records the agent taking the conversation, unless they hold it
// already, and msg (nil for none) with it as one turn, then tells the
// visitor's tabs. On return msg has its ID. Callers are the owner.
func (g *Gateway) takeWith(ctx context.Context, site *Site, ls *liveSession, sess *storage.Session, a Agent, now time.Time, msg *storage.Message) error {
	if ls.first == nil && now.Sub(sess.LastActivityAt) >= site.SessionTimeout {
		return ErrInactive
	}
	t := &storage.Turn{SessionID: ls.id, Touch: now}
	h := sess.State.Handover
	taking := h == nil || h.Status != storage.HandoverHeld
	switch {
	case !taking && h.Agent != a.Name:
		return ErrHeldByOther
	case taking:
		st := cloneState(sess.State)
		story.TakeOver(&st, a.Name, a.DisplayName, now)
		t.State = &st
	case msg == nil:
		return nil // held by this agent already: nothing to write
	}
	var notice []byte
	if taking {
		notice = encode(handoverFrame{Type: "handover", Status: storage.HandoverHeld, Agent: a.DisplayName})
	}
	if msg != nil {
		t.Messages, t.ClientID = []storage.Message{*msg}, msg.ClientID
	}
	if _, err := ls.commit(ctx, site, t, nil, notice); err != nil {
		return err
	}
	if msg != nil {
		*msg = t.Messages[0]
	}
	return nil
}

// Typing tells the visitor's tabs that the agent, who holds the
// conversation, is typing; ErrNotHeld otherwise.
func (g *Gateway) Typing(ctx context.Context, sessionID string, a Agent) error {
	_, err := g.onOwner(ctx, &ownerCall{Op: opTyping, Session: sessionID, Agent: &a}, func() error {
		return g.asOwner(ctx, sessionID, func(site *Site, ls *liveSession, sess *storage.Session, _ time.Time) error {
			if !heldBy(sess, a) {
				return ErrNotHeld
			}
			ls.broadcast(encode(typingFrame{Type: "typing", From: storage.FromAgent, Agent: a.DisplayName}), nil)
			return nil
		})
	})
	return err
}

// HandBack gives the conversation back to the story: at block, or where it
// was when block is "". Only the agent holding it may; ErrNotHeld
// otherwise. A block the story lacks fails with a *FrameError
// unknown_block.
func (g *Gateway) HandBack(ctx context.Context, sessionID string, a Agent, block string) error {
	_, err := g.onOwner(ctx, &ownerCall{Op: opHandBack, Session: sessionID, Agent: &a, Block: block}, func() error {
		return g.asOwner(ctx, sessionID, func(site *Site, ls *liveSession, sess *storage.Session, now time.Time) error {
			if !heldBy(sess, a) {
				return ErrNotHeld
			}
			st := cloneState(sess.State)
			reply, err := site.Story.HandBack(&st, block, now)
			if err != nil {
				return asFrameError(err)
			}
			return g.giveBack(ctx, site, ls, &st, reply, now)
		})
	})
	return err
}

// Close ends the conversation: the visitor's tabs are told it ended and it
// takes no more turns. One another agent holds fails with ErrHeldByOther.
// Closing an ended one changes nothing and is no error, so a call made
// again after its answer was lost (its owner died) succeeds.
func (g *Gateway) Close(ctx context.Context, sessionID string, a Agent) error {
	_, err := g.onOwner(ctx, &ownerCall{Op: opClose, Session: sessionID, Agent: &a}, func() error {
		return g.asOwner(ctx, sessionID, func(site *Site, ls *liveSession, sess *storage.Session, now time.Time) error {
			if h := sess.State.Handover; h != nil && h.Status == storage.HandoverHeld && h.Agent != a.Name {
				return ErrHeldByOther
			}
			st := cloneState(sess.State)
			story.Close(&st)
			_, err := ls.commit(ctx, site, &storage.Turn{SessionID: ls.id, State: &st, Touch: now}, nil, nil)
			return err
		})
	})
	if errors.Is(err, ErrEnded) {
		return nil
	}
	return err
}

// giveBack records the story taking the conversation back (handed back or
// timed out): the state, the bot's messages, and the tabs told.
func (g *Gateway) giveBack(ctx context.Context, site *Site, ls *liveSession, st *storage.State, reply story.Reply, now time.Time) error {
	t := &storage.Turn{SessionID: ls.id, Messages: reply.Messages, State: st, Touch: now}
	_, err := ls.commit(ctx, site, t, nil, encode(handoverFrame{Type: "handover", Status: "released"}))
	return err
}

// asOwner runs an agent's action or a timeout as the owner of the session
// (Gateway.own), whether or not the visitor has a socket open. It fails
// with storage.ErrNotFound for an unknown session or one whose site is
// gone, ErrEnded for an ended one.
func (g *Gateway) asOwner(ctx context.Context, sessionID string, fn func(site *Site, ls *liveSession, sess *storage.Session, now time.Time) error) error {
	return g.own(ctx, sessionID, func(ls *liveSession, sess *storage.Session) error {
		site := g.Site(sess.Site)
		if site == nil {
			return storage.ErrNotFound
		}
		if sess.State.Ended {
			return ErrEnded
		}
		return fn(site, ls, sess, g.cfg.Now())
	})
}

// heldBy reports whether the agent holds the conversation.
func heldBy(sess *storage.Session, a Agent) bool {
	h := sess.State.Handover
	return h != nil && h.Status == storage.HandoverHeld && h.Agent == a.Name
}

// asFrameError turns the story's refusal into a FrameError.
func asFrameError(err error) error {
	var se *storyError
	if errors.As(err, &se) {
		return &FrameError{se.Code, se.Message}
	}
	return err
}

// changed tells the console that the conversation's inbox entry changed.
// Callers hold ls.mu.
func (g *Gateway) changed(site *Site, ls *liveSession) {
	ev := Event{Type: EventChanged, Session: ls.id, Site: site.ID}
	if s := ls.cache; s != nil {
		ev.Visitor = s.VisitorID
		if h := s.State.Handover; h != nil {
			ev.Status, ev.Agent = h.Status, h.Agent
		}
	}
	g.events.publish(ev)
}

// afterTurn follows a turn the owner just recorded, prev being the session
// before it: the console hears of a conversation entering, in or leaving
// a hand-over and of a goal reached, and a new wait for a person gets its
// timeout. Callers hold ls.mu.
func (g *Gateway) afterTurn(site *Site, ls *liveSession, prev *storage.State) {
	next := ls.cache
	if next == nil {
		return
	}
	h := next.State.Handover
	ls.paused.Store(h != nil)
	if h != nil || (prev != nil && prev.Handover != nil) {
		g.changed(site, ls)
	}
	if h != nil && h.Status == storage.HandoverWaiting && (prev == nil || prev.Handover == nil) {
		g.armTimeout(ls.id, h.TimeoutAt)
	}
	for _, goal := range next.State.Goals {
		if prev == nil || !slices.Contains(prev.Goals, goal) {
			g.events.publish(Event{Type: EventGoal, Session: ls.id, Site: site.ID, Visitor: next.VisitorID, Goal: goal})
		}
	}
}

// stampTimeout gives a hand-over that just began waiting its deadline,
// from the site's timeout, before the turn is stored.
func stampTimeout(site *Site, st *storage.State, now time.Time) {
	if h := st.Handover; h != nil && h.Status == storage.HandoverWaiting && h.TimeoutAt.IsZero() {
		h.TimeoutAt = now.Add(site.handoverTimeout())
	}
}

// armTimeout runs the session's hand-over timeout at the given time. It is
// only in memory: at start the gateway arms those the store lists
// (resumeTimeouts), so a restart loses none.
func (g *Gateway) armTimeout(sessionID string, at time.Time) {
	d := at.Sub(g.cfg.Now())
	if d < 0 {
		d = 0
	}
	time.AfterFunc(d, func() { g.timedOut(sessionID) })
}

// timedOut lets the story go on at the handover block's next when nobody
// took the conversation in time; it does nothing when someone did.
func (g *Gateway) timedOut(sessionID string) {
	ctx := g.baseCtx
	if ctx.Err() != nil {
		return
	}
	_, err := g.onOwner(ctx, &ownerCall{Op: opTimeout, Session: sessionID}, func() error {
		return g.timeOut(ctx, sessionID)
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, ErrEnded) {
		g.cfg.Logger.Error("handover timeout failed", "session", sessionID, "err", err)
	}
}

// timeOut is timedOut on the session's owner.
func (g *Gateway) timeOut(ctx context.Context, sessionID string) error {
	return g.asOwner(ctx, sessionID, func(site *Site, ls *liveSession, sess *storage.Session, now time.Time) error {
		h := sess.State.Handover
		if h == nil || h.Status != storage.HandoverWaiting {
			return nil
		}
		if now.Before(h.TimeoutAt) {
			// The clock moved differently than the timer (tests move it).
			g.armTimeout(sessionID, h.TimeoutAt)
			return nil
		}
		st := cloneState(sess.State)
		reply, ok := site.Story.TimedOut(&st, now)
		if !ok {
			return nil
		}
		return g.giveBack(ctx, site, ls, &st, reply, now)
	})
}

// resumeTimeouts arms the timeouts of the conversations the store lists
// as waiting for a person, after a restart.
func (g *Gateway) resumeTimeouts() {
	list, err := g.store.Handovers(g.baseCtx)
	if err != nil {
		g.cfg.Logger.Error("handover timeouts not resumed", "err", err)
		return
	}
	for _, e := range list {
		if e.Status == storage.HandoverWaiting && !e.TimeoutAt.IsZero() {
			g.armTimeout(e.Session, e.TimeoutAt)
		}
	}
}

// handoverOf is the hand-over as the welcome frame tells a tab that
// (re)joins: nil when the bot answers, or when the person is only awaited.
func handoverOf(st *storage.State) *handoverFrame {
	if h := st.Handover; h != nil && h.Status == storage.HandoverHeld {
		return &handoverFrame{Type: "handover", Status: h.Status, Agent: h.AgentName}
	}
	return nil
}
