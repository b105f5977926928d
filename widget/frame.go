package widget

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parley-chat/parley/storage"
)

// Client frame types.
const (
	frameHello     = "hello"
	frameText      = "text"
	frameChoice    = "choice"
	frameInput     = "input"
	frameTyping    = "typing"
	frameVariables = "variables"
)

// ClientFrame is any frame a client sends; which fields apply depends on Type.
type ClientFrame struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"` // client message ID, scoped to the session

	// hello
	Token   string `json:"token,omitempty"`
	Session string `json:"session,omitempty"`
	Page    string `json:"page,omitempty"`
	Lang    string `json:"lang,omitempty"`
	New     bool   `json:"new,omitempty"` // start a new session, resuming none

	Text      string            `json:"text,omitempty"`      // text
	Block     string            `json:"block,omitempty"`     // choice, input
	Option    string            `json:"option,omitempty"`    // choice
	Value     string            `json:"value,omitempty"`     // input
	Variables map[string]string `json:"variables,omitempty"` // variables
	User      *UserClaim        `json:"user,omitempty"`      // hello, identify (identify.go)
}

// FrameError is a frame the server refuses; Code goes into the error frame.
type FrameError struct {
	Code    string
	Message string
}

func (e *FrameError) Error() string { return e.Code + ": " + e.Message }

// Limits on client frame fields, beyond the socket's read limit.
const (
	maxClientID  = 64
	maxFieldLen  = 256
	maxPageLen   = 2048
	maxVariables = 50
	maxVarValue  = 1000
)

// The client IDs of the server's own turns in a session: an upload's and
// an agent's reply's. A frame may not use them, or a visitor could take
// the ID of a file or a reply to come, and it would not be stored.
func fileClientID(fileID string) string     { return "file:" + fileID }
func replyClientID(agent, id string) string { return "reply:" + agent + "/" + id }
func serverClientID(id string) bool {
	return strings.HasPrefix(id, "file:") || strings.HasPrefix(id, "reply:")
}

// ParseClientFrame decodes and checks one client frame. It returns a
// *FrameError with code bad_frame for malformed JSON or fields, and
// unknown_type for a type this server does not speak.
func ParseClientFrame(b []byte) (*ClientFrame, error) {
	var f ClientFrame
	// One Unmarshal, no Decoder per frame: it also refuses trailing data;
	// only then does a Decoder tell which error it was.
	if err := json.Unmarshal(b, &f); err != nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		if dec.Decode(&ClientFrame{}) == nil && dec.More() {
			return nil, &FrameError{"bad_frame", "trailing data after the frame"}
		}
		return nil, &FrameError{"bad_frame", "the frame is not a JSON object of the protocol"}
	}
	if len(f.ID) > maxClientID {
		return nil, &FrameError{"bad_frame", fmt.Sprintf("id is longer than %d bytes", maxClientID)}
	}
	if !storage.PlainName(f.ID) {
		return nil, &FrameError{"bad_frame", "the id has control characters"}
	}
	if serverClientID(f.ID) {
		return nil, &FrameError{"bad_frame", "an id may not begin with file: or reply:"}
	}
	switch f.Type {
	case frameHello:
		if len(f.Token) > maxFieldLen || len(f.Session) > maxFieldLen || len(f.Lang) > 35 || len(f.Page) > maxPageLen {
			return nil, &FrameError{"bad_frame", "a hello field is too long"}
		}
	case frameText:
		if f.ID == "" {
			return nil, &FrameError{"bad_frame", "text needs an id"}
		}
	case frameChoice:
		if f.ID == "" || f.Block == "" || f.Option == "" {
			return nil, &FrameError{"bad_frame", "choice needs id, block and option"}
		}
	case frameInput:
		if f.ID == "" || f.Block == "" {
			return nil, &FrameError{"bad_frame", "input needs id and block"}
		}
	case frameVariables:
		if len(f.Variables) > maxVariables {
			return nil, &FrameError{"bad_frame", fmt.Sprintf("at most %d variables", maxVariables)}
		}
		for k, v := range f.Variables {
			if k == "" || len(k) > 64 || len(v) > maxVarValue {
				return nil, &FrameError{"bad_frame", "a variable name or value is too long"}
			}
			if !storage.PlainName(k) {
				return nil, &FrameError{"bad_frame", "a variable name has control characters"}
			}
		}
	case frameIdentify:
		if f.ID == "" || f.User == nil {
			return nil, &FrameError{"bad_frame", "identify needs id and user"}
		}
	case frameTyping:
	case "":
		return nil, &FrameError{"bad_frame", "missing type"}
	default:
		return nil, &FrameError{"unknown_type", fmt.Sprintf("unknown frame type %q", f.Type)}
	}
	if f.User != nil {
		if err := f.User.check(); err != nil {
			return nil, err
		}
	}
	f.clean()
	return &f, nil
}

// clean removes control characters and bidi overrides from what the
// visitor typed and the page sent (storage.CleanText), before anything
// stores or shows it; newlines and tabs stay.
func (f *ClientFrame) clean() {
	f.Text = storage.CleanText(f.Text)
	f.Value = storage.CleanText(f.Value)
	f.Page = storage.CleanText(f.Page)
	f.Lang = storage.CleanText(f.Lang)
	for k, v := range f.Variables {
		f.Variables[k] = storage.CleanText(v)
	}
}

// Server frames.

type welcomeFrame struct {
	Type    string         `json:"type"` // welcome
	Visitor string         `json:"visitor"`
	Token   string         `json:"token"`
	Session string         `json:"session"`
	Resumed bool           `json:"resumed"`
	History []messageFrame `json:"history"`
	// Handover says a person holds the conversation (agent.go).
	Handover *handoverFrame `json:"handover,omitempty"`
}

// endedFrame says the story has ended: the session takes no more turns
// and is never resumed; a hello with new starts the next one.
type endedFrame struct {
	Type    string `json:"type"` // ended
	Session string `json:"session"`
}

// messageFrame is a stored message as the wire contract shows it.
type messageFrame struct {
	Type    string                `json:"type"` // message
	ID      string                `json:"id"`
	From    string                `json:"from"`
	At      string                `json:"at"`
	Text    string                `json:"text,omitempty"`
	Block   string                `json:"block,omitempty"`
	Image   string                `json:"image,omitempty"`
	Options []storage.Option      `json:"options,omitempty"`
	Input   *storage.InputPrompt  `json:"input,omitempty"`
	Upload  *storage.UploadPrompt `json:"upload,omitempty"`
	File    *fileFrame            `json:"file,omitempty"`
	Ref     string                `json:"ref,omitempty"`   // the client ID of a visitor message
	Agent   string                `json:"agent,omitempty"` // an agent's message: the person's display name
}

type fileFrame struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	Type string `json:"type"`
}

type ackFrame struct {
	Type string `json:"type"` // ack
	Ref  string `json:"ref"`
	ID   string `json:"id"`
	At   string `json:"at"`
	Text string `json:"text,omitempty"` // the text as stored: an input normalised (a phone in E.164)
}

func toAck(ref string, a storage.Ack) ackFrame {
	return ackFrame{Type: "ack", Ref: ref, ID: a.ID, At: rfc3339(a.At), Text: a.Text}
}

type errorFrame struct {
	Type       string `json:"type"` // error
	Ref        string `json:"ref,omitempty"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	RetryAfter int    `json:"retryAfter,omitempty"` // seconds, where waiting helps
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func toFrame(m *storage.Message) messageFrame {
	f := messageFrame{
		Type: "message", ID: m.ID, From: m.From, At: rfc3339(m.At),
		Text: m.Text, Block: m.Block, Image: m.Image,
		Options: m.Options, Input: m.Input, Upload: m.Upload, Agent: m.AgentName,
	}
	if !serverClientID(m.ClientID) {
		// The ID the widget gave its frame. An upload's and an agent's
		// reply's client IDs are the server's, and a reply's names the
		// agent's sign-in.
		f.Ref = m.ClientID
	}
	if m.File != nil {
		f.File = &fileFrame{ID: m.File.ID, Name: m.File.Name, Size: m.File.Size, Type: m.File.Type}
	}
	return f
}

func toFrames(msgs []storage.Message) []messageFrame {
	out := make([]messageFrame, len(msgs))
	for i := range msgs {
		out[i] = toFrame(&msgs[i])
	}
	return out
}

// encode marshals a server frame; the frame types cannot fail to encode.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(errors.New("widget: encode frame: " + err.Error()))
	}
	return b
}
