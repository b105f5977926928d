package widget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parley-chat/parley/storage"
)

// Calls to a session's owner node (cluster.go): a tab's frame forwarded
// by the node holding the tab, or an action (an agent's, an upload's, a
// hand-over timeout's) that landed on a node that does not own the
// session. The owner runs it as if it had come in there and answers what
// the caller needs: the tab's frames, the stored message, the error.

// ownerCall is a request to a session's owner node: a tab's frame, an
// agent's action, an upload, a hand-over timeout.
type ownerCall struct {
	Op      string `json:"op"`
	Session string `json:"session"`
	Site    string `json:"site,omitempty"`

	// opTab: the frame of a tab on the calling node.
	Tab     string       `json:"tab,omitempty"`
	Visitor string       `json:"visitor,omitempty"`
	Frame   *ClientFrame `json:"frame,omitempty"`

	Agent    *Agent           `json:"agent,omitempty"`
	Text     string           `json:"text,omitempty"`     // opReply
	ClientID string           `json:"clientId,omitempty"` // opReply
	Block    string           `json:"block,omitempty"`    // opHandBack
	File     *storage.FileRef `json:"file,omitempty"`     // opFile
}

// Owner calls.
const (
	opTab      = "tab"
	opTake     = "take"
	opReply    = "reply"
	opTyping   = "typing"
	opHandBack = "handback"
	opClose    = "close"
	opFile     = "file"
	opTimeout  = "timeout"
)

// ownerAnswer is the owner's answer to a call.
type ownerAnswer struct {
	// NotOwner: the node called does not own the session (any more).
	NotOwner bool              `json:"notOwner,omitempty"`
	Frames   []json.RawMessage `json:"frames,omitempty"` // for the calling tab
	Close    int               `json:"close,omitempty"`  // close the calling tab with this status
	Message  *storage.Message  `json:"message,omitempty"`
	Code     string            `json:"code,omitempty"` // the call failed: callErrors, or a frame error's code
	Error    string            `json:"error,omitempty"`
}

// callErrors are the errors an owner's answer carries by name.
var callErrors = map[string]error{
	"held_by_other": ErrHeldByOther,
	"not_held":      ErrNotHeld,
	"ended":         ErrEnded,
	"inactive":      ErrInactive,
	"no_upload":     ErrNoUpload,
	"not_found":     storage.ErrNotFound,
}

// errNotOwner: the node called no longer owns the session.
var errNotOwner = errors.New("widget: the node called does not own the session")

// setError puts err into the answer.
func (a *ownerAnswer) setError(err error) {
	for code, e := range callErrors {
		if errors.Is(err, e) {
			a.Code = code
			return
		}
	}
	var fe *FrameError
	if errors.As(err, &fe) {
		a.Code, a.Error = fe.Code, fe.Message
		return
	}
	a.Error = err.Error()
}

// err is the error the answer carries, nil for none.
func (a *ownerAnswer) err() error {
	switch {
	case a.NotOwner:
		return errNotOwner
	case a.Code != "" && a.Error != "":
		return &FrameError{a.Code, a.Error}
	case a.Code != "":
		if e := callErrors[a.Code]; e != nil {
			return e
		}
		return fmt.Errorf("widget: the owner node answered %s", a.Code)
	case a.Error != "":
		return fmt.Errorf("widget: the owner node failed: %s", a.Error)
	}
	return nil
}

// atOwner runs local if this node owns the session (claiming it when no
// live node does), else sends call to the owner and returns its answer.
// An owner that does not answer (gone, or no longer the owner) is asked
// again after a claim, until OwnerWait: its lease passes within that and
// this node, or another, takes the session over.
func (g *Gateway) atOwner(ctx context.Context, ls *liveSession, call *ownerCall, local func() error) (*ownerAnswer, error) {
	c := g.cluster
	if c == nil {
		return nil, local()
	}
	ctx, cancel := context.WithTimeout(ctx, c.OwnerWait)
	defer cancel()
	data, err := json.Marshal(call)
	if err != nil {
		return nil, err
	}
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		ls.mu.Lock()
		owner, err := c.ownerOf(ctx, ls)
		ls.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if owner == "" {
			return nil, local()
		}
		ans, err := g.call(ctx, ls.id, owner, data)
		if err == nil {
			if err = ans.err(); !errors.Is(err, errNotOwner) {
				return ans, err
			}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: the session's owner node did not answer: %v", storage.ErrUnavailable, err)
		}
		ls.mu.Lock()
		ls.forget(owner)
		ls.mu.Unlock()
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
}

// call sends a call about the session to its owner node and decodes the
// answer; ErrNoNode when the node is gone. A node can die with the call
// in flight (or stall): while the answer is awaited, the store is asked
// every ownerCheck whether the node still owns the session, and the call
// is given up once it does not, its lease having passed. A dead owner's
// commits are fenced, so what it did not answer either stored nothing or
// is found again by its client ID.
func (g *Gateway) call(ctx context.Context, sessionID, node string, data []byte) (*ownerAnswer, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		t := time.NewTicker(ownerCheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if owner, err := g.cluster.Owners.SessionOwner(ctx, sessionID); err == nil && owner != node {
					cancel(ErrNoNode)
					return
				}
			}
		}
	}()
	out, err := g.cluster.Bus.Request(ctx, subjectNode+node, data)
	if errors.Is(context.Cause(ctx), ErrNoNode) {
		return nil, ErrNoNode
	}
	if err != nil {
		return nil, err
	}
	var ans ownerAnswer
	if err := json.Unmarshal(out, &ans); err != nil {
		return nil, fmt.Errorf("widget: the owner node's answer: %w", err)
	}
	return &ans, nil
}

// ownerCheck is how often a call awaiting its answer asks the store
// whether the node called still owns the session.
const ownerCheck = time.Second

// answerCall runs another node's call as this session's owner.
func (g *Gateway) answerCall(data []byte) []byte {
	var call ownerCall
	var ans ownerAnswer
	if err := json.Unmarshal(data, &call); err != nil {
		ans.Error = "bad call: " + err.Error()
	} else {
		g.runCall(&call, &ans)
	}
	out, _ := json.Marshal(&ans)
	return out
}

func (g *Gateway) runCall(call *ownerCall, ans *ownerAnswer) {
	ctx, cancel := context.WithTimeout(g.baseCtx, g.cluster.OwnerWait)
	defer cancel()
	ls := g.hub.acquire(call.Session)
	defer g.hub.release(ls)
	ls.mu.Lock()
	owner, err := g.cluster.ownerOf(ctx, ls)
	ls.mu.Unlock()
	switch {
	case err != nil:
		ans.setError(err)
		return
	case owner != "":
		ans.NotOwner = true
		return
	}
	var a Agent
	if call.Agent != nil {
		a = *call.Agent
	}
	switch call.Op {
	case opTab:
		g.runTab(ctx, ls, call, ans)
		return
	case opTake:
		err = g.Take(ctx, call.Session, a)
	case opReply:
		var m storage.Message
		if m, err = g.Reply(ctx, call.Session, a, call.Text, call.ClientID); err == nil {
			ans.Message = &m
		}
	case opTyping:
		err = g.Typing(ctx, call.Session, a)
	case opHandBack:
		err = g.HandBack(ctx, call.Session, a, call.Block)
	case opClose:
		err = g.Close(ctx, call.Session, a)
	case opFile:
		var m storage.Message
		if call.File == nil {
			err = errors.New("no file")
		} else if m, err = g.FileUploaded(ctx, call.Site, call.Session, *call.File); err == nil {
			ans.Message = &m
		}
	case opTimeout:
		g.timedOut(call.Session)
	default:
		err = fmt.Errorf("unknown call %q", call.Op)
	}
	if err != nil {
		ans.setError(err)
	}
}

// runTab runs the frame of another node's tab as if the tab were here:
// what the tab is answered goes back in ans, what every tab sees out to
// all of them.
func (g *Gateway) runTab(ctx context.Context, ls *liveSession, call *ownerCall, ans *ownerAnswer) {
	site := g.Site(call.Site)
	if site == nil || call.Frame == nil {
		ans.setError(storage.ErrNotFound)
		return
	}
	if t := call.Frame.Type; t == frameHello || t == frameIdentify {
		ans.setError(&FrameError{"bad_frame", "a node forwards no " + t})
		return
	}
	rt := &remoteTab{}
	c := &conn{g: g, site: site, visitor: call.Visitor, tab: call.Tab, remote: rt}
	c.live.Store(ls)
	if err := c.runOwned(ctx, call.Frame); err != nil {
		c.fail(call.Frame.ID, err)
	}
	ans.Frames, ans.Close = rt.frames, rt.close
}

// remoteTab collects what a turn answers a tab on another node.
type remoteTab struct {
	frames []json.RawMessage
	close  int
}

// forward runs a tab's frame at the session's owner: here, by local, or
// on the owner node, whose answers for the tab are queued on it.
func (c *conn) forward(ctx context.Context, f *ClientFrame, local func() error) error {
	ls := c.live.Load()
	if c.g.cluster == nil || c.remote != nil {
		return local()
	}
	call := &ownerCall{Op: opTab, Session: ls.id, Site: c.site.ID, Tab: c.tab, Visitor: c.visitor, Frame: f}
	ans, err := c.g.atOwner(ctx, ls, call, local)
	if ans == nil {
		return err
	}
	for _, fr := range ans.Frames {
		c.enqueue(fr)
	}
	if ans.Close != 0 {
		c.closeErased()
	}
	return err
}

// onOwner runs an action on the session's owner: here (local) or on the
// owner node, returning the message the owner stored, if any.
func (g *Gateway) onOwner(ctx context.Context, call *ownerCall, local func() error) (*storage.Message, error) {
	if g.cluster == nil {
		return nil, local()
	}
	ls := g.hub.acquire(call.Session)
	defer g.hub.release(ls)
	ans, err := g.atOwner(ctx, ls, call, local)
	if ans == nil {
		return nil, err
	}
	return ans.Message, err
}
