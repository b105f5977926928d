package story

import (
	"time"

	"github.com/parley-chat/parley/storage"
)

// Lost reports whether the session waits on a block this story does not
// have, or no longer as a question: the story was reloaded with that
// block removed or changed.
func (s *Story) Lost(st *storage.State) bool {
	if st.Pending == "" {
		return false
	}
	b := s.byID[st.Pending]
	return b == nil || !b.waits()
}

// Restart moves a lost session (Lost) to the story's start: the pending
// question is dropped and the story runs from start again. Variables,
// goals, tags and reached blocks stay.
func (s *Story) Restart(st *storage.State, now time.Time) Reply {
	st.Pending = ""
	st.LastMessageType = "restart"
	return s.run(st, s.Start, now)
}
