package widgettest

// Server frame types (README, Wire contract, Frames).
const (
	TypeWelcome = "welcome"
	TypeMessage = "message"
	TypeAck     = "ack"
	TypeError   = "error"
	TypeEnded   = "ended"
	// TypeIdentified answers a verified identify (in a hello or on its own).
	TypeIdentified = "identified"
	// TypeHandover: a person took the conversation (status held, with
	// Agent) or gave it back to the bot (status released).
	TypeHandover = "handover"
	// TypeTyping: the agent is typing (From agent, with Agent).
	TypeTyping = "typing"
)

// Frame is any frame the server sends, decoded loosely: which fields are
// set depends on Type. The client's own frames come back in this shape
// too from an echo server (the load tool's baseline), with their ID.
type Frame struct {
	Type string `json:"type"`

	// welcome
	Visitor string  `json:"visitor,omitempty"`
	Token   string  `json:"token,omitempty"`
	Session string  `json:"session,omitempty"` // welcome, ended
	Resumed *bool   `json:"resumed,omitempty"`
	History []Frame `json:"history,omitempty"` // the session's messages, oldest first
	// Handover is set while a person holds the conversation.
	Handover *Frame `json:"handover,omitempty"`

	// message, ack
	ID      string   `json:"id,omitempty"`
	From    string   `json:"from,omitempty"` // "bot", "visitor" or "agent"
	At      string   `json:"at,omitempty"`
	Text    string   `json:"text,omitempty"`
	Block   string   `json:"block,omitempty"`
	Image   string   `json:"image,omitempty"`
	Options []Option `json:"options,omitempty"`
	Input   *Input   `json:"input,omitempty"`
	Upload  *Upload  `json:"upload,omitempty"`
	File    *File    `json:"file,omitempty"`
	Ref     string   `json:"ref,omitempty"` // ack, error, message: the client ID it answers
	// Agent is the display name of the person: on an agent's message, a
	// handover or a typing frame.
	Agent string `json:"agent,omitempty"`
	// Status is a handover frame's: held or released.
	Status string `json:"status,omitempty"`

	// identified: the user ID, and whether this browser's conversations
	// joined the user's (Visitor and Token are the user's)
	User   string `json:"user,omitempty"`
	Merged bool   `json:"merged,omitempty"`

	// error
	Code       string `json:"code,omitempty"`
	Message    string `json:"message,omitempty"`
	RetryAfter int    `json:"retryAfter,omitempty"` // seconds
}

// Option is one button of a choice block.
type Option struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// Input is what an input block asks for.
type Input struct {
	Kind        string `json:"kind"` // text, email, phone, number
	Placeholder string `json:"placeholder,omitempty"`
}

// Upload is an upload block's offer.
type Upload struct {
	Accept   []string `json:"accept,omitempty"`
	MaxBytes int64    `json:"maxBytes,omitempty"`
}

// File is a visitor's file as a message shows it.
type File struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	Type string `json:"type"`
}

// IsPrompt reports whether f is a question the story waits on: a message
// with options, an input or an upload.
func (f *Frame) IsPrompt() bool {
	return f.Type == TypeMessage && (len(f.Options) > 0 || f.Input != nil || f.Upload != nil)
}

// Pending returns the open question of a welcome's history: the latest
// prompt with no visitor message after it, or nil.
func (f *Frame) Pending() *Frame {
	var p *Frame
	for i := range f.History {
		switch h := &f.History[i]; {
		case h.From == "visitor":
			p = nil
		case h.IsPrompt():
			p = h
		}
	}
	return p
}

// Hello is the first frame on a socket; every field is optional.
type Hello struct {
	Token   string `json:"token,omitempty"`   // the visitor's signed token, where no cookie is sent
	Session string `json:"session,omitempty"` // the session to resume
	Page    string `json:"page,omitempty"`
	Lang    string `json:"lang,omitempty"`
	New     bool   `json:"new,omitempty"` // start a new session, resuming none
	// User identifies the host page's logged-in user (hello and identify).
	User *User `json:"user,omitempty"`
}

// User is a host page's claim of its logged-in user: the ID, its identity
// hash (HMAC-SHA256 of the ID with the site's identity secret, hex) and
// what the page knows of the user.
type User struct {
	ID    string `json:"id"`
	Hash  string `json:"hash"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// clientFrame is any frame a client sends.
type clientFrame struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	Hello
	Text      string            `json:"text,omitempty"`
	Block     string            `json:"block,omitempty"`
	Option    string            `json:"option,omitempty"`
	Value     string            `json:"value,omitempty"`
	Variables map[string]string `json:"variables,omitempty"`
}
