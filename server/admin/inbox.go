package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/server/respond"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
)

// Live is what the inbox asks of the live conversations: the agents'
// actions, each run by the session's owner, and the events the console
// follows. *widget.Gateway is one.
type Live interface {
	Take(ctx context.Context, sessionID string, a widget.Agent) error
	Reply(ctx context.Context, sessionID string, a widget.Agent, text, clientID string) (storage.Message, error)
	Typing(ctx context.Context, sessionID string, a widget.Agent) error
	HandBack(ctx context.Context, sessionID string, a widget.Agent, block string) error
	Close(ctx context.Context, sessionID string, a widget.Agent) error
	Subscribe() (<-chan widget.Event, func())
}

var _ Live = (*widget.Gateway)(nil)

// inboxScan is how many of a conversation's newest messages the inbox
// reads for its preview and unread mark.
const inboxScan = 50

// MaxAgentText caps an agent's message, in characters.
const MaxAgentText = 4000

// MaxClientID caps the clientId of an agent's message, in bytes (as a
// widget frame's id).
const MaxClientID = 64

// inboxRoutes registers the inbox: the list and its live events, the
// agents' actions on a conversation and its help-desk record.
func (a *Admin) inboxRoutes(api *http.ServeMux) {
	api.HandleFunc("GET /admin/api/inbox", a.getInbox)
	api.HandleFunc("GET /admin/api/inbox/events", a.streamInbox) // inbox_events.go
	api.HandleFunc("POST /admin/api/sessions/{id}/take", a.byID(a.takeSession))
	api.HandleFunc("POST /admin/api/sessions/{id}/messages", a.byID(a.replySession))
	api.HandleFunc("POST /admin/api/sessions/{id}/typing", a.byID(a.typingSession))
	api.HandleFunc("POST /admin/api/sessions/{id}/handback", a.byID(a.handBackSession))
	api.HandleFunc("POST /admin/api/sessions/{id}/close", a.byID(a.closeSession))
	api.HandleFunc("GET /admin/api/sessions/{id}/conversation", a.byID(a.getConversation)) // conversation.go
	api.HandleFunc("POST /admin/api/sessions/{id}/conversation", a.byID(a.updateConversation))
	api.HandleFunc("POST /admin/api/sessions/{id}/read", a.byID(a.markRead))
	api.HandleFunc("POST /admin/api/sessions/{id}/notes", a.byID(a.addNote))
}

// agentOf is the request's principal as the widget names an agent.
func agentOf(r *http.Request) widget.Agent {
	p := PrincipalOf(r)
	return widget.Agent{Name: p.Name(), DisplayName: p.Display()}
}

// inboxItemJSON is one conversation of the inbox.
type inboxItemJSON struct {
	Session       string         `json:"session"`
	Site          string         `json:"site"`
	Visitor       visitorRefJSON `json:"visitor"`
	Handover      string         `json:"handover"` // waiting, held or "" (handed back, still open)
	WaitingSince  *string        `json:"waitingSince"`
	WaitedSeconds int64          `json:"waitedSeconds"` // waiting: until now; held: until taken
	HeldSince     *string        `json:"heldSince"`
	Agent         string         `json:"agent,omitempty"`     // who holds it
	AgentName     string         `json:"agentName,omitempty"` // their display name
	Status        string         `json:"status"`              // open or resolved
	Assignee      string         `json:"assignee,omitempty"`
	Unread        bool           `json:"unread"` // the visitor wrote since the caller last read it
	LastMessage   *lastMsgJSON   `json:"lastMessage"`
}

type lastMsgJSON struct {
	From string `json:"from"`
	Text string `json:"text"`
	At   string `json:"at"`
}

// inboxJSON is GET /admin/api/inbox: waiting (oldest first), held (by
// agent, then oldest first) and open (handed back or closed, not resolved).
type inboxJSON struct {
	Waiting []inboxItemJSON `json:"waiting"`
	Held    []inboxItemJSON `json:"held"`
	Open    []inboxItemJSON `json:"open"`
}

// getInbox serves GET /admin/api/inbox.
func (a *Admin) getInbox(w http.ResponseWriter, r *http.Request) {
	ctx, me, now := r.Context(), PrincipalOf(r).Name(), a.now()
	hos, err := a.store.Handovers(ctx)
	if err != nil {
		a.errs.Internal(w, r, err, "the inbox could not be read")
		return
	}
	convs, err := a.store.Conversations(ctx)
	if err != nil {
		a.errs.Internal(w, r, err, "the inbox could not be read")
		return
	}
	out := inboxJSON{Waiting: []inboxItemJSON{}, Held: []inboxItemJSON{}, Open: []inboxItemJSON{}}
	seen := map[string]bool{}
	for _, e := range hos {
		item, err := a.inboxItem(ctx, e.Session, me, now)
		if err != nil {
			continue // erased meanwhile
		}
		seen[e.Session] = true
		if e.Status == storage.HandoverHeld {
			out.Held = append(out.Held, item)
		} else {
			out.Waiting = append(out.Waiting, item)
		}
	}
	for _, c := range convs {
		if seen[c.Session] {
			continue
		}
		if item, err := a.inboxItem(ctx, c.Session, me, now); err == nil {
			out.Open = append(out.Open, item)
		}
	}
	slices.SortStableFunc(out.Held, func(x, y inboxItemJSON) int {
		if x.Agent != y.Agent {
			if x.Agent < y.Agent {
				return -1
			}
			return 1
		}
		return 0
	})
	respond.JSON(w, http.StatusOK, out)
}

// inboxItem reads one conversation as the inbox shows it to agent me.
func (a *Admin) inboxItem(ctx context.Context, sid, me string, now time.Time) (inboxItemJSON, error) {
	// The record and the newest messages: one page of keys, not the whole
	// conversation, nor a fold of every session's pending turns.
	sess, err := a.store.Session(ctx, sid)
	if err != nil {
		return inboxItemJSON{}, err
	}
	msgs, err := a.store.LatestMessages(ctx, sid, inboxScan)
	if err != nil {
		return inboxItemJSON{}, err
	}
	v, err := a.store.Visitor(ctx, sess.VisitorID)
	if err != nil {
		return inboxItemJSON{}, err
	}
	c, err := a.store.Conversation(ctx, sid)
	if err != nil {
		return inboxItemJSON{}, err
	}
	item := inboxItemJSON{
		Session: sid, Site: sess.Site, Visitor: visitorRefJSON{v.ID, v.Label()},
		Status: c.Status, Assignee: c.Assignee,
	}
	if h := sess.State.Handover; h != nil {
		item.Handover, item.Agent, item.AgentName = h.Status, h.Agent, h.AgentName
		item.WaitingSince, item.HeldSince = stampOrNull(h.WaitingSince), stampOrNull(h.HeldSince)
		switch {
		case h.Status == storage.HandoverWaiting:
			item.WaitedSeconds = int64(now.Sub(h.WaitingSince).Seconds())
		case !h.WaitingSince.IsZero():
			item.WaitedSeconds = int64(h.HeldSince.Sub(h.WaitingSince).Seconds())
		}
	}
	for _, m := range msgs { // newest first
		if item.LastMessage == nil && m.Text != "" {
			item.LastMessage = &lastMsgJSON{From: m.From, Text: m.Text, At: stamp(m.At)}
		}
		if m.From == storage.FromVisitor {
			item.Unread = m.ID > c.Read[me]
			break
		}
	}
	return item, nil
}

// takeSession serves POST /admin/api/sessions/{id}/take: the caller holds
// the conversation (and is its assignee when it has none); 409
// held_by_other when another agent holds it.
func (a *Admin) takeSession(w http.ResponseWriter, r *http.Request) {
	sid, ag := r.PathValue("id"), agentOf(r)
	if !a.live(w, r) {
		return
	}
	if err := a.liveOpts.Take(r.Context(), sid, ag); err != nil {
		a.writeLiveError(w, r, err)
		return
	}
	c, err := a.store.UpdateConversation(r.Context(), sid, a.now(), func(c *storage.Conversation) {
		c.Status = storage.ConversationOpen
		if c.Assignee == "" {
			c.Assignee = ag.Name
		}
	})
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	respond.JSON(w, http.StatusOK, toConversation(c))
}

// replySession serves POST /admin/api/sessions/{id}/messages
// {"text","clientId"}: the message, stored and pushed to the visitor's
// tabs; replying takes the conversation over. A clientId the agent sent
// in the session before gets the stored message again, so a request
// made again after a lost answer sends nothing twice.
func (a *Admin) replySession(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Text     string `json:"text"`
		ClientID string `json:"clientId"`
	}
	if !a.live(w, r) || !a.decode(w, r, &req, `{"text":"…"}`) {
		return
	}
	text := storage.CleanText(req.Text)
	switch n := utf8.RuneCountInString(text); {
	case strings.TrimSpace(text) == "":
		a.errs.Error(w, r, http.StatusBadRequest, "empty_text", "the message is empty")
		return
	case n > MaxAgentText:
		a.errs.Error(w, r, http.StatusBadRequest, "text_too_long", "a message may have at most 4000 characters")
		return
	case len(req.ClientID) > MaxClientID:
		a.errs.Error(w, r, http.StatusBadRequest, "bad_client_id", fmt.Sprintf("clientId may have at most %d bytes", MaxClientID))
		return
	}
	sid, ag := r.PathValue("id"), agentOf(r)
	m, err := a.liveOpts.Reply(r.Context(), sid, ag, text, req.ClientID)
	if err != nil {
		a.writeLiveError(w, r, err)
		return
	}
	_, err = a.store.UpdateConversation(r.Context(), sid, a.now(), func(c *storage.Conversation) {
		c.Status = storage.ConversationOpen
		if c.Assignee == "" {
			c.Assignee = ag.Name
		}
		c.Read = markRead(c.Read, ag.Name, m.ID)
	})
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	respond.JSON(w, http.StatusCreated, toMessage(m))
}

// typingSession serves POST /admin/api/sessions/{id}/typing: 204, the
// visitor's tabs show the agent typing; 409 not_held unless the caller
// holds the conversation.
func (a *Admin) typingSession(w http.ResponseWriter, r *http.Request) {
	if !a.live(w, r) {
		return
	}
	if err := a.liveOpts.Typing(r.Context(), r.PathValue("id"), agentOf(r)); err != nil {
		a.writeLiveError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handBackSession serves POST /admin/api/sessions/{id}/handback
// {"block":"B"}: the story goes on at block, or where it was without one.
func (a *Admin) handBackSession(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Block string `json:"block"`
	}
	if !a.live(w, r) || !a.decode(w, r, &req, `{"block":"…"} (or {} for where the story was)`) {
		return
	}
	if err := a.liveOpts.HandBack(r.Context(), r.PathValue("id"), agentOf(r), req.Block); err != nil {
		a.writeLiveError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// closeSession serves POST /admin/api/sessions/{id}/close: the
// conversation ends for the visitor.
func (a *Admin) closeSession(w http.ResponseWriter, r *http.Request) {
	if !a.live(w, r) {
		return
	}
	if err := a.liveOpts.Close(r.Context(), r.PathValue("id"), agentOf(r)); err != nil {
		a.writeLiveError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// live answers 503 when the admin has no live conversations to act on.
func (a *Admin) live(w http.ResponseWriter, r *http.Request) bool {
	if a.liveOpts == nil {
		a.errs.Error(w, r, http.StatusServiceUnavailable, "unavailable", "the live inbox is not available here")
		return false
	}
	return true
}

// writeLiveError answers an agent action the conversation refused.
func (a *Admin) writeLiveError(w http.ResponseWriter, r *http.Request, err error) {
	var fe *widget.FrameError
	switch {
	case errors.Is(err, widget.ErrHeldByOther):
		a.errs.Error(w, r, http.StatusConflict, "held_by_other", "another agent holds this conversation")
	case errors.Is(err, widget.ErrNotHeld):
		a.errs.Error(w, r, http.StatusConflict, "not_held", "take the conversation first")
	case errors.Is(err, widget.ErrEnded):
		a.errs.Error(w, r, http.StatusConflict, "ended", "this conversation has ended")
	case errors.Is(err, widget.ErrInactive):
		a.errs.Error(w, r, http.StatusConflict, "inactive", "the visitor left this conversation longer ago than the session timeout; it cannot be resumed")
	case errors.As(err, &fe):
		a.errs.Error(w, r, http.StatusBadRequest, fe.Code, fe.Message)
	default:
		a.writeQueryError(w, r, err)
	}
}

// toMessage is a stored message as a transcript shows it.
func toMessage(m storage.Message) messageJSON {
	mj := messageJSON{ID: m.ID, From: m.From, Kind: m.Kind, At: stamp(m.At), Text: m.Text, Block: m.Block, Image: m.Image, Options: m.Options,
		Agent: m.Agent, AgentName: m.AgentName, Sentiment: toSentiment(m.Sentiment), Unanswered: m.Unanswered}
	switch m.Kind {
	case storage.KindChoice:
		mj.Choice = &m.Option
	case storage.KindInput:
		mj.Value = &m.Value
	}
	if m.File != nil {
		f := toFile(*m.File)
		mj.File = &f
	}
	return mj
}

// markRead moves agent's read mark to id, never back.
func markRead(read map[string]string, agent, id string) map[string]string {
	if read == nil {
		read = map[string]string{}
	}
	if id > read[agent] {
		read[agent] = id
	}
	return read
}
