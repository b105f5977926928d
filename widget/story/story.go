// Package story loads Parley's scripted bots (stories) from JSON and runs
// them: given a session's state and what the visitor did, it says what the
// bot answers and how the state moves on. It does no I/O beyond loading.
package story

import (
	"fmt"
	"os"
	"regexp"

	"github.com/parley-chat/parley/widget/conffile"
)

// Block kinds.
const (
	KindMessage   = "message"
	KindChoice    = "choice"
	KindInput     = "input"
	KindUpload    = "upload"
	KindCondition = "condition"
	KindGoal      = "goal"
	KindTag       = "tag"
	KindEnd       = "end"
	KindHandover  = "handover" // asks for a person; the story pauses (handover.go)
)

// Input kinds.
const (
	InputText  = "text"
	InputEmail = "email"
	InputPhone = "phone"
)

// Condition operators.
const (
	OpSet     = "set"
	OpEquals  = "equals"
	OpMatches = "matches"
)

// Story is a versioned flow of blocks.
type Story struct {
	Bot      string `json:"bot"`
	Version  string `json:"version"`
	Start    string `json:"start"`
	Fallback string `json:"fallback"` // runs on free text nobody asked for
	// Type says what the story is for (lead, support, ...: seed 003's
	// types): its sessions carry it, and the dashboard filters on it.
	Type   string  `json:"type,omitempty"`
	Blocks []Block `json:"blocks"`

	byID map[string]*Block
}

// Block is one step of a story. Which fields apply depends on Kind.
type Block struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Text string `json:"text,omitempty"` // what the bot says; {{var}} inserts a variable
	Next string `json:"next,omitempty"` // the block after this one

	Image string `json:"image,omitempty"` // message: an image URL

	Options []Option `json:"options,omitempty"` // choice

	Input       string `json:"input,omitempty"`       // input: text, email or phone
	Variable    string `json:"variable,omitempty"`    // input, upload, condition: the variable
	Placeholder string `json:"placeholder,omitempty"` // input
	Retry       string `json:"retry,omitempty"`       // input: said before re-asking after an invalid answer

	Accept   []string `json:"accept,omitempty"`   // upload: MIME types (image/*) and extensions (.pdf)
	MaxBytes int64    `json:"maxBytes,omitempty"` // upload: 0 means the site's limit
	Skip     *Skip    `json:"skip,omitempty"`     // upload: a button that goes on without a file

	Op    string `json:"op,omitempty"`    // condition: set, equals or matches
	Value string `json:"value,omitempty"` // condition: the value or pattern
	Then  string `json:"then,omitempty"`  // condition: where to go when true
	Else  string `json:"else,omitempty"`  // condition: where to go when false

	Goal string `json:"goal,omitempty"` // goal: its name
	Tag  string `json:"tag,omitempty"`  // tag: its name

	pattern *regexp.Regexp
}

// Option is one button of a choice block.
type Option struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Next  string `json:"next"`
}

// Skip lets the visitor go on from an upload block without a file: a
// button labelled Label, sent as the choice of option SkipOption.
type Skip struct {
	Label string `json:"label"`
	Next  string `json:"next,omitempty"` // where to go; empty means the block's next
}

// SkipOption is the option ID of an upload block's skip button.
const SkipOption = "skip"

// waits reports whether the block stops the run to wait for the visitor.
func (b *Block) waits() bool {
	return b.Kind == KindChoice || b.Kind == KindInput || b.Kind == KindUpload || b.Kind == KindHandover
}

// Block returns the block with the given ID, or nil.
func (s *Story) Block(id string) *Block { return s.byID[id] }

// LoadFile reads and validates a story file. The error lists every
// problem, each with the file's name, line and column.
func LoadFile(path string) (*Story, error) {
	st, ps := CheckFile(path)
	return st, ps.Err()
}

// CheckFile reads and checks a story file: the story (nil if it has
// errors) and every problem, warnings included (see Check).
func CheckFile(path string) (*Story, conffile.Problems) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, conffile.Problems{{File: path, Msg: fmt.Sprintf("cannot read the story: %v", err)}}
	}
	return Check(path, b)
}

// Parse decodes and validates a story. Unknown fields are errors, so a
// typo in a story file fails at start instead of silently doing nothing.
// The error lists every problem, naming the block and what is wrong.
func Parse(b []byte) (*Story, error) {
	st, ps := Check("story", b)
	return st, ps.Err()
}

// Check decodes and validates a story read from file, going on past each
// problem so that all of them are reported at once: JSON syntax, unknown
// fields (with the field probably meant), wrong types, missing or dangling
// references (with the block probably meant), loops that never wait for
// the visitor. Warnings, which do not stop the story from loading: texts
// inserting a variable no block sets, blocks nothing leads to, accept
// patterns that match no file. The story is nil when there are errors.
func Check(file string, b []byte) (*Story, conffile.Problems) {
	doc, ps := conffile.Parse(file, b)
	if doc == nil {
		return nil, ps
	}
	if doc.Root.Kind != conffile.Object {
		return nil, conffile.Problems{doc.Errorf(doc.Root.Off, "", "a story is a JSON object: {\"bot\": …, \"blocks\": […]}")}
	}
	var s Story
	c := &checker{s: &s, doc: doc}
	c.decode()
	c.validate()
	ps = c.ps.Sorted()
	if len(ps.Errors()) > 0 {
		return nil, ps
	}
	return &s, ps
}
