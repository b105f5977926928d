package admin

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/server/respond"
	"github.com/parley-chat/parley/storage"
)

// conversationJSON is a conversation's help-desk record with its notes.
type conversationJSON struct {
	Session   string     `json:"session"`
	Status    string     `json:"status"`
	Assignee  string     `json:"assignee,omitempty"`
	UpdatedAt *string    `json:"updatedAt"`
	Notes     []noteJSON `json:"notes"`
}

type noteJSON struct {
	ID        string `json:"id"`
	Agent     string `json:"agent"`
	AgentName string `json:"agentName"`
	Text      string `json:"text"`
	At        string `json:"at"`
}

func toConversation(c *storage.Conversation) conversationJSON {
	return conversationJSON{Session: c.Session, Status: c.Status, Assignee: c.Assignee, UpdatedAt: stampOrNull(c.UpdatedAt), Notes: []noteJSON{}}
}

func toNote(n storage.Note) noteJSON {
	return noteJSON{ID: n.ID, Agent: n.Agent, AgentName: n.AgentName, Text: n.Text, At: stamp(n.At)}
}

// getConversation serves GET /admin/api/sessions/{id}/conversation: the
// record (open when there is none yet) and its private notes.
func (a *Admin) getConversation(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("id")
	if _, err := a.store.Session(r.Context(), sid); err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	c, err := a.store.Conversation(r.Context(), sid)
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	notes, err := a.store.Notes(r.Context(), sid)
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	out := toConversation(c)
	for _, n := range notes {
		out.Notes = append(out.Notes, toNote(n))
	}
	respond.JSON(w, http.StatusOK, out)
}

// updateConversation serves POST /admin/api/sessions/{id}/conversation
// {"status":"open|resolved","assignee":"NAME"}: either field may be left
// out; an assignee of "" unassigns; an unknown agent is 400.
func (a *Admin) updateConversation(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Status   *string `json:"status"`
		Assignee *string `json:"assignee"`
	}
	if !a.decode(w, r, &req, `{"status":"open|resolved","assignee":"agent name"}`) {
		return
	}
	if req.Status != nil && *req.Status != storage.ConversationOpen && *req.Status != storage.ConversationResolved {
		a.errs.Error(w, r, http.StatusBadRequest, "invalid_status", "status: want open or resolved")
		return
	}
	if req.Assignee != nil && *req.Assignee != "" && *req.Assignee != "admin" {
		if _, err := a.store.Agent(r.Context(), *req.Assignee); isNotFound(err) {
			a.errs.Error(w, r, http.StatusBadRequest, "unknown_agent", "assignee: no such agent")
			return
		} else if err != nil {
			a.writeQueryError(w, r, err)
			return
		}
	}
	c, err := a.store.UpdateConversation(r.Context(), r.PathValue("id"), a.now(), func(c *storage.Conversation) {
		if req.Status != nil {
			c.Status = *req.Status
		}
		if req.Assignee != nil {
			c.Assignee = *req.Assignee
		}
	})
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	respond.JSON(w, http.StatusOK, toConversation(c))
}

// markRead serves POST /admin/api/sessions/{id}/read: the caller has read
// the conversation up to its latest message. 204.
func (a *Admin) markRead(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("id")
	sess, err := a.store.Session(r.Context(), sid)
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	me := PrincipalOf(r).Name()
	if c, err := a.store.Conversation(r.Context(), sid); err == nil && c.Read[me] >= sess.LastMessageID {
		w.WriteHeader(http.StatusNoContent) // nothing new: write nothing
		return
	}
	_, err = a.store.UpdateConversation(r.Context(), sid, a.now(), func(c *storage.Conversation) {
		c.Read = markRead(c.Read, me, sess.LastMessageID)
	})
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// MaxNoteText caps a private note, in characters.
const MaxNoteText = 4000

// addNote serves POST /admin/api/sessions/{id}/notes {"text"}: 201 with
// the note, which only agents and the admin ever see.
func (a *Admin) addNote(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Text string `json:"text"`
	}
	if !a.decode(w, r, &req, `{"text":"…"}`) {
		return
	}
	text := storage.CleanText(req.Text)
	if n := utf8.RuneCountInString(text); strings.TrimSpace(text) == "" || n > MaxNoteText {
		a.errs.Error(w, r, http.StatusBadRequest, "invalid_note", "a note has 1 to 4000 characters")
		return
	}
	p := PrincipalOf(r)
	n := &storage.Note{Session: r.PathValue("id"), Agent: p.Name(), AgentName: p.Display(), Text: text, At: a.now().UTC().Truncate(time.Second)}
	if err := a.store.AddNote(r.Context(), n); err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	respond.JSON(w, http.StatusCreated, toNote(*n))
}
