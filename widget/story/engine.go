package story

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley/storage"
)

// maxSteps bounds one run; validation already refuses loops without a wait.
const maxSteps = 1000

// Error is a visitor action the story refuses. Code is stable for clients.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Reply is what the story does in answer to one visitor action.
type Reply struct {
	// Messages are the bot's messages, in order.
	Messages []storage.Message
	// Input is the value an input block accepted, if any.
	Input *storage.Input
}

// Begin starts a new conversation in a fresh state.
func (s *Story) Begin(st *storage.State, now time.Time) Reply {
	st.LastMessageType = "intro"
	return Reply{Messages: s.run(st, s.Start, now)}
}

// Choose applies a click on option of the choice block. It fails with
// unknown_option when the block or option does not exist and not_pending
// when the block is not the one waiting for an answer.
func (s *Story) Choose(st *storage.State, block, option string, now time.Time) (label string, r Reply, err error) {
	b := s.byID[block]
	if b == nil || b.Kind != KindChoice {
		return "", Reply{}, &Error{"unknown_option", "there is no such choice"}
	}
	i := slices.IndexFunc(b.Options, func(o Option) bool { return o.ID == option })
	if i < 0 {
		return "", Reply{}, &Error{"unknown_option", "there is no such option"}
	}
	if st.Pending != block {
		return "", Reply{}, &Error{"not_pending", "this question is no longer open"}
	}
	o := b.Options[i]
	st.Pending = ""
	st.LastMessageType = "postback"
	st.LastMessageContent = o.Label
	return o.Label, Reply{Messages: s.run(st, o.Next, now)}, nil
}

// Answer applies a typed answer to the input block. An invalid value fails
// with invalid_email, invalid_phone or invalid_text and a reply that
// re-asks; the state stays waiting for the block.
func (s *Story) Answer(st *storage.State, block, value string, opts InputOptions, now time.Time) (Reply, error) {
	b := s.byID[block]
	if b == nil || b.Kind != KindInput {
		return Reply{}, &Error{"unknown_block", "there is no such question"}
	}
	if st.Pending != block {
		return Reply{}, &Error{"not_pending", "this question is no longer open"}
	}
	clean, err := ValidateInput(b.Input, value, opts)
	if err != nil {
		retry := b.Retry
		if retry == "" {
			retry = err.(*Error).Message
		}
		msgs := []storage.Message{{From: storage.FromBot, Kind: storage.KindBot, At: now, Text: retry}}
		msgs = append(msgs, s.prompt(st, b, now))
		return Reply{Messages: msgs}, err
	}
	if st.Variables == nil {
		st.Variables = map[string]string{}
	}
	st.Variables[b.Variable] = clean
	st.Pending = ""
	st.LastMessageType = "input"
	st.LastMessageContent = clean
	in := &storage.Input{Block: b.ID, Variable: b.Variable, Kind: b.Input, Value: clean, At: now}
	return Reply{Messages: s.run(st, b.Next, now), Input: in}, nil
}

// PendingInput returns the input block waiting for an answer, or nil: free
// text answers it.
func (s *Story) PendingInput(st *storage.State) *Block {
	if b := s.byID[st.Pending]; b != nil && b.Kind == KindInput {
		return b
	}
	return nil
}

// PendingUpload returns the upload block waiting for a file, or nil.
func (s *Story) PendingUpload(st *storage.State) *Block {
	if b := s.byID[st.Pending]; b != nil && b.Kind == KindUpload {
		return b
	}
	return nil
}

// Text applies free text nobody asked for: the fallback block answers.
func (s *Story) Text(st *storage.State, text string, now time.Time) Reply {
	st.LastMessageType = "text"
	st.LastMessageContent = text
	return Reply{Messages: s.run(st, s.Fallback, now)}
}

// Uploaded applies an uploaded file. If an upload block was waiting, the
// file satisfies it (its variable gets the file ID) and the story goes on;
// otherwise the file is just a message and the story stays where it is.
func (s *Story) Uploaded(st *storage.State, f storage.FileRef, now time.Time) Reply {
	st.LastMessageType = "upload"
	st.LastMessageContent = f.Name
	b := s.PendingUpload(st)
	if b == nil {
		return Reply{}
	}
	if b.Variable != "" {
		if st.Variables == nil {
			st.Variables = map[string]string{}
		}
		st.Variables[b.Variable] = f.ID
	}
	st.Pending = ""
	return Reply{Messages: s.run(st, b.Next, now)}
}

// run executes blocks from id until one waits for the visitor, the story
// ends or a block has no next.
func (s *Story) run(st *storage.State, id string, now time.Time) []storage.Message {
	var out []storage.Message
	for steps := 0; id != "" && steps < maxSteps; steps++ {
		b := s.byID[id]
		if b == nil {
			break
		}
		st.Previous, st.Current = st.Current, b.ID
		st.Ended = false
		if !slices.Contains(st.Reached, b.ID) {
			st.Reached = append(st.Reached, b.ID)
		}
		id = b.Next
		switch b.Kind {
		case KindMessage:
			if b.Text != "" || b.Image != "" {
				m := s.say(st, b, now)
				m.Image = b.Image
				out = append(out, m)
			}
		case KindChoice, KindInput, KindUpload:
			out = append(out, s.prompt(st, b, now))
			st.Pending = b.ID
			return out
		case KindCondition:
			if holds(b, st.Variables[b.Variable]) {
				id = b.Then
			} else {
				id = b.Else
			}
		case KindGoal:
			if !slices.Contains(st.Goals, b.Goal) {
				st.Goals = append(st.Goals, b.Goal)
			}
		case KindTag:
			if !slices.Contains(st.Tags, b.Tag) {
				st.Tags = append(st.Tags, b.Tag)
			}
		case KindEnd:
			if b.Text != "" {
				out = append(out, s.say(st, b, now))
			}
			st.Ended = true
			st.Pending = ""
			return out
		}
	}
	return out
}

// prompt is the message of a block that waits for the visitor.
func (s *Story) prompt(st *storage.State, b *Block, now time.Time) storage.Message {
	m := s.say(st, b, now)
	switch b.Kind {
	case KindChoice:
		for _, o := range b.Options {
			m.Options = append(m.Options, storage.Option{ID: o.ID, Label: o.Label})
		}
	case KindInput:
		m.Input = &storage.InputPrompt{Kind: b.Input, Placeholder: b.Placeholder}
	case KindUpload:
		m.Upload = &storage.UploadPrompt{Accept: b.Accept, MaxBytes: b.MaxBytes}
	}
	return m
}

func (s *Story) say(st *storage.State, b *Block, now time.Time) storage.Message {
	return storage.Message{
		From:  storage.FromBot,
		Kind:  storage.KindBot,
		At:    now,
		Block: b.ID,
		Text:  interpolate(b.Text, st.Variables),
	}
}

func holds(b *Block, v string) bool {
	switch b.Op {
	case OpSet:
		return strings.TrimSpace(v) != ""
	case OpEquals:
		return strings.EqualFold(strings.TrimSpace(v), strings.TrimSpace(b.Value))
	case OpMatches:
		return b.pattern.MatchString(v)
	}
	return false
}

var placeholder = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}`)

// interpolate replaces {{name}} with the variable's value (empty if unset).
func interpolate(text string, vars map[string]string) string {
	if !strings.Contains(text, "{{") {
		return text
	}
	return placeholder.ReplaceAllStringFunc(text, func(m string) string {
		return vars[placeholder.FindStringSubmatch(m)[1]]
	})
}
