package story

import (
	"cmp"
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
	// Trace is the way the story went when it said nothing (a click that
	// reached a goal and an end without text): no message carries it, so
	// the visitor's message may (storage.Step).
	Trace []storage.Step
}

// Begin starts a new conversation in a fresh state.
func (s *Story) Begin(st *storage.State, now time.Time) Reply {
	st.LastMessageType = "intro"
	return s.run(st, s.Start, now)
}

// errEnded refuses a visitor action after the story's end: the
// conversation is over, and only a new session goes on.
var errEnded = &Error{"ended", "this conversation has ended; start a new one"}

// Choose applies a click on option of the choice block, or on the skip
// button (option SkipOption) of an upload block. It fails with ended after
// the story's end, unknown_option when the block or option does not exist
// and not_pending when the block is not the one waiting for an answer.
func (s *Story) Choose(st *storage.State, block, option string, now time.Time) (label string, r Reply, err error) {
	if st.Ended {
		return "", Reply{}, errEnded
	}
	b := s.byID[block]
	opts := options(b)
	if opts == nil {
		return "", Reply{}, &Error{"unknown_option", "there is no such choice"}
	}
	i := slices.IndexFunc(opts, func(o Option) bool { return o.ID == option })
	if i < 0 {
		return "", Reply{}, &Error{"unknown_option", "there is no such option"}
	}
	if st.Pending != block {
		return "", Reply{}, &Error{"not_pending", "this question is no longer open"}
	}
	o := opts[i]
	st.Pending = ""
	st.LastMessageType = "postback"
	st.LastMessageContent = o.Label
	answered := storage.Step{Block: b.ID, Kind: b.Kind, Value: o.Label, Next: o.Next, Answered: true}
	return o.Label, s.run(st, o.Next, now, answered), nil
}

// options returns the buttons a block offers: a choice's options, an
// upload's skip button; nil for any other block (or none).
func options(b *Block) []Option {
	switch {
	case b == nil:
		return nil
	case b.Kind == KindChoice:
		return b.Options
	case b.Kind == KindUpload && b.Skip != nil:
		return []Option{{ID: SkipOption, Label: b.Skip.Label, Next: cmp.Or(b.Skip.Next, b.Next)}}
	}
	return nil
}

// TypedOption returns the option of the open question whose label the
// visitor typed instead of clicking it, ignoring case and white space, or
// "" when text names none: typing "show me a demo" counts as the click.
func (s *Story) TypedOption(st *storage.State, text string) (block, option string) {
	b := s.byID[st.Pending]
	typed := foldLabel(text)
	for _, o := range options(b) {
		if typed != "" && foldLabel(o.Label) == typed {
			return b.ID, o.ID
		}
	}
	return "", ""
}

// foldLabel is a label as typed labels are compared: lower case, without
// white space.
func foldLabel(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), ""))
}

// Answer applies a typed answer to the input block. An invalid value fails
// with invalid_email, invalid_phone or invalid_text and a reply that
// re-asks; the state stays waiting for the block. After the story's end
// it fails with ended.
func (s *Story) Answer(st *storage.State, block, value string, opts InputOptions, now time.Time) (Reply, error) {
	if st.Ended {
		return Reply{}, errEnded
	}
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
	answered := storage.Step{Block: b.ID, Kind: b.Kind, Variable: b.Variable, Value: clean, Next: b.Next, Answered: true}
	r := s.run(st, b.Next, now, answered)
	r.Input = in
	return r, nil
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
// While a choice or upload is open, the fallback is followed by that
// question again (unless the fallback asks one of its own), so the
// visitor always sees a way on. After the story's end it fails with ended.
func (s *Story) Text(st *storage.State, text string, now time.Time) (Reply, error) {
	if st.Ended {
		return Reply{}, errEnded
	}
	st.LastMessageType = "text"
	st.LastMessageContent = text
	open := st.Pending
	st.Pending = ""
	r := s.run(st, s.Fallback, now)
	r.Messages = s.reopen(st, open, r.Messages, now)
	if len(r.Messages) > 0 && len(r.Trace) > 0 {
		// The fallback said nothing; the question asked again says why.
		r.Messages[0].Trace = append(r.Trace, r.Messages[0].Trace...)
		r.Trace = nil
	}
	return r, nil
}

// reopen asks the question that was open before an action that did not
// answer it again, after msgs, unless msgs asked another or ended.
func (s *Story) reopen(st *storage.State, open string, msgs []storage.Message, now time.Time) []storage.Message {
	b := s.byID[open]
	if b == nil || st.Pending != "" || st.Ended {
		return msgs
	}
	st.Previous, st.Current = st.Current, b.ID
	st.Pending = b.ID
	m := s.prompt(st, b, now)
	m.Trace = []storage.Step{{Block: b.ID, Kind: b.Kind, Again: true}}
	return append(msgs, m)
}

// Uploaded applies an uploaded file. If an upload block was waiting, the
// file satisfies it (its variable gets the file ID) and the story goes on;
// otherwise the file is just a message and a question still open is asked
// again.
func (s *Story) Uploaded(st *storage.State, f storage.FileRef, now time.Time) Reply {
	st.LastMessageType = "upload"
	st.LastMessageContent = f.Name
	b := s.PendingUpload(st)
	if b == nil {
		open := st.Pending
		st.Pending = ""
		return Reply{Messages: s.reopen(st, open, nil, now)}
	}
	answered := storage.Step{Block: b.ID, Kind: b.Kind, Next: b.Next, Answered: true}
	if b.Variable != "" {
		if st.Variables == nil {
			st.Variables = map[string]string{}
		}
		st.Variables[b.Variable] = f.ID
		answered.Variable, answered.Value = b.Variable, f.ID
	}
	st.Pending = ""
	return s.run(st, b.Next, now, answered)
}

// run executes blocks from id until one waits for the visitor, the story
// ends or a block has no next. It traces the way (trace.go): each message
// carries the steps since the one before, the first message pre (what the
// visitor's action did) first.
func (s *Story) run(st *storage.State, id string, now time.Time, pre ...storage.Step) Reply {
	t := tracer{steps: pre}
	for n := 0; id != "" && n < maxSteps; n++ {
		b := s.byID[id]
		if b == nil {
			break
		}
		st.Previous, st.Current = st.Current, b.ID
		if !slices.Contains(st.Reached, b.ID) {
			st.Reached = append(st.Reached, b.ID)
		}
		id = b.Next
		step := storage.Step{Block: b.ID, Kind: b.Kind}
		switch b.Kind {
		case KindMessage:
			t.pass(step)
			if b.Text != "" || b.Image != "" {
				m := s.say(st, b, now)
				m.Image = b.Image
				t.emit(m)
			}
		case KindChoice, KindInput, KindUpload:
			t.pass(step)
			t.emit(s.prompt(st, b, now))
			st.Pending = b.ID
			return t.done()
		case KindCondition:
			v := st.Variables[b.Variable]
			step.Variable, step.Value, step.Op, step.Want = b.Variable, v, b.Op, b.Value
			if holds(b, v) {
				id, step.Branch = b.Then, storage.BranchThen
			} else {
				id, step.Branch = b.Else, storage.BranchElse
			}
			step.Next = id
			t.pass(step)
		case KindGoal:
			step.Goal = b.Goal
			t.pass(step)
			if !slices.Contains(st.Goals, b.Goal) {
				st.Goals = append(st.Goals, b.Goal)
			}
		case KindTag:
			step.Tag = b.Tag
			t.pass(step)
			if !slices.Contains(st.Tags, b.Tag) {
				st.Tags = append(st.Tags, b.Tag)
			}
		case KindHandover:
			t.pass(step)
			if b.Text != "" {
				t.emit(s.say(st, b, now))
			}
			st.Pending = ""
			st.Handover = &storage.Handover{Status: storage.HandoverWaiting, WaitingSince: now, Block: b.ID}
			return t.done()
		case KindEnd:
			t.pass(step)
			if b.Text != "" {
				t.emit(s.say(st, b, now))
			}
			st.Ended = true
			st.Pending = ""
			return t.done()
		}
	}
	return t.done()
}

// tracer collects a run's messages and the steps that led to each.
type tracer struct {
	out   []storage.Message
	steps []storage.Step // since the last message
}

func (t *tracer) pass(s storage.Step) { t.steps = append(t.steps, s) }

// emit adds a message with the steps that led to it.
func (t *tracer) emit(m storage.Message) {
	m.Trace, t.steps = t.steps, nil
	t.out = append(t.out, m)
}

// done returns the messages; steps after the last one (a goal, an end
// without text) go on it, marked After, or, when the run said nothing,
// are the reply's Trace.
func (t *tracer) done() Reply {
	if len(t.out) == 0 {
		return Reply{Trace: t.steps}
	}
	if len(t.steps) > 0 {
		last := &t.out[len(t.out)-1]
		for _, s := range t.steps {
			s.After = true
			last.Trace = append(last.Trace, s)
		}
	}
	return Reply{Messages: t.out}
}

// prompt is the message of a block that waits for the visitor.
func (s *Story) prompt(st *storage.State, b *Block, now time.Time) storage.Message {
	m := s.say(st, b, now)
	switch b.Kind {
	case KindInput:
		m.Input = &storage.InputPrompt{Kind: b.Input, Placeholder: b.Placeholder}
	case KindUpload:
		m.Upload = &storage.UploadPrompt{Accept: b.Accept, MaxBytes: b.MaxBytes}
	}
	for _, o := range options(b) {
		m.Options = append(m.Options, storage.Option{ID: o.ID, Label: o.Label})
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
