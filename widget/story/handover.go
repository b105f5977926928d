package story

import (
	"time"

	"github.com/parley-chat/parley/storage"
)

// Paused reports whether a person waits for or holds the conversation:
// the story answers nothing then.
func Paused(st *storage.State) bool { return st.Handover != nil }

// TakeOver gives the conversation to the agent: a waiting hand-over is
// taken, any other conversation is taken unasked, its open question kept
// to ask again on hand back. The story is paused until HandBack or
// TimedOut; the caller checks who held it before.
func TakeOver(st *storage.State, agent, name string, now time.Time) {
	h := st.Handover
	if h == nil {
		h = &storage.Handover{Resume: st.Pending}
		st.Pending = ""
	}
	h.Status, h.Agent, h.AgentName, h.HeldSince, h.TimeoutAt = storage.HandoverHeld, agent, name, now, time.Time{}
	st.Handover = h
}

// HandBack gives the conversation back to the story: at block when one is
// named, else where it was (the handover block's next, or the question
// that was open when the agent took over). It fails with unknown_block
// for a block the story does not have.
func (s *Story) HandBack(st *storage.State, block string, now time.Time) (Reply, error) {
	h := st.Handover
	if block != "" && s.byID[block] == nil {
		return Reply{}, &Error{"unknown_block", "the story has no block " + block}
	}
	st.Handover = nil
	switch {
	case block != "":
		return s.run(st, block, now), nil
	case h == nil:
		return Reply{}, nil
	case h.Block != "" && s.byID[h.Block] != nil:
		return s.run(st, s.byID[h.Block].Next, now), nil
	case h.Resume != "":
		return Reply{Messages: s.reopen(st, h.Resume, nil, now)}, nil
	}
	return Reply{}, nil
}

// TimedOut goes on without a person: a hand-over still waiting runs its
// block's next. It reports false, changing nothing, when the conversation
// is not waiting (an agent took it meanwhile).
func (s *Story) TimedOut(st *storage.State, now time.Time) (Reply, bool) {
	h := st.Handover
	if h == nil || h.Status != storage.HandoverWaiting {
		return Reply{}, false
	}
	r, _ := s.HandBack(st, "", now)
	return r, true
}

// Close ends the conversation from the console: no more turns, as after
// an end block.
func Close(st *storage.State) {
	st.Handover = nil
	st.Pending = ""
	st.Ended = true
}
