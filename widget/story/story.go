// Package story loads Parley's scripted bots (stories) from JSON and runs
// them: given a session's state and what the visitor did, it says what the
// bot answers and how the state moves on. It does no I/O beyond loading.
package story

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
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
	Bot      string  `json:"bot"`
	Version  string  `json:"version"`
	Start    string  `json:"start"`
	Fallback string  `json:"fallback"` // runs on free text nobody asked for
	Blocks   []Block `json:"blocks"`

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

// waits reports whether the block stops the run to wait for the visitor.
func (b *Block) waits() bool {
	return b.Kind == KindChoice || b.Kind == KindInput || b.Kind == KindUpload
}

// Block returns the block with the given ID, or nil.
func (s *Story) Block(id string) *Block { return s.byID[id] }

// LoadFile reads and validates a story file.
func LoadFile(path string) (*Story, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("story: %w", err)
	}
	st, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// Parse decodes and validates a story. Unknown fields are errors, so a
// typo in a story file fails at start instead of silently doing nothing.
// Errors name the block and what is wrong with it.
func Parse(b []byte) (*Story, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Story
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("story: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("story: trailing data after the story object")
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}
