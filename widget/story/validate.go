package story

import (
	"fmt"
	"regexp"
	"strings"
)

const maxBlocks = 10000

// validate checks the story's shape and references and indexes its blocks.
func (s *Story) validate() error {
	if strings.TrimSpace(s.Bot) == "" {
		return fmt.Errorf("story: missing bot name")
	}
	if strings.TrimSpace(s.Version) == "" {
		return fmt.Errorf("story %s: missing version", s.Bot)
	}
	if len(s.Blocks) == 0 {
		return fmt.Errorf("story %s: no blocks", s.Bot)
	}
	if len(s.Blocks) > maxBlocks {
		return fmt.Errorf("story %s: %d blocks, at most %d", s.Bot, len(s.Blocks), maxBlocks)
	}
	s.byID = make(map[string]*Block, len(s.Blocks))
	for i := range s.Blocks {
		b := &s.Blocks[i]
		if b.ID == "" {
			return fmt.Errorf("story %s: block #%d: missing id", s.Bot, i+1)
		}
		if _, dup := s.byID[b.ID]; dup {
			return fmt.Errorf("story %s: block %q: duplicate id", s.Bot, b.ID)
		}
		s.byID[b.ID] = b
	}
	for i := range s.Blocks {
		if err := s.validateBlock(&s.Blocks[i]); err != nil {
			return fmt.Errorf("story %s: block %q: %w", s.Bot, s.Blocks[i].ID, err)
		}
	}
	if err := s.ref("start", s.Start, true); err != nil {
		return fmt.Errorf("story %s: %w", s.Bot, err)
	}
	if err := s.ref("fallback", s.Fallback, true); err != nil {
		return fmt.Errorf("story %s: %w", s.Bot, err)
	}
	return s.checkLoops()
}

// ref checks that a reference names a block.
func (s *Story) ref(field, id string, required bool) error {
	if id == "" {
		if required {
			return fmt.Errorf("missing %s", field)
		}
		return nil
	}
	if s.byID[id] == nil {
		return fmt.Errorf("%s %q: no such block", field, id)
	}
	return nil
}

func (s *Story) validateBlock(b *Block) error {
	switch b.Kind {
	case KindMessage, KindGoal, KindTag, KindEnd:
	case KindChoice:
		if len(b.Options) == 0 {
			return fmt.Errorf("choice without options")
		}
		seen := map[string]bool{}
		for _, o := range b.Options {
			if o.ID == "" || o.Label == "" {
				return fmt.Errorf("option needs an id and a label")
			}
			if seen[o.ID] {
				return fmt.Errorf("option %q: duplicate id", o.ID)
			}
			seen[o.ID] = true
			if err := s.ref("option "+o.ID+" next", o.Next, true); err != nil {
				return err
			}
		}
	case KindInput:
		switch b.Input {
		case InputText, InputEmail, InputPhone:
		default:
			return fmt.Errorf("input kind %q: want text, email or phone", b.Input)
		}
		if b.Variable == "" {
			return fmt.Errorf("input without a variable")
		}
	case KindUpload:
		if len(b.Accept) == 0 {
			return fmt.Errorf("upload without an accept list")
		}
		if b.MaxBytes < 0 {
			return fmt.Errorf("upload maxBytes is negative")
		}
	case KindCondition:
		if b.Variable == "" {
			return fmt.Errorf("condition without a variable")
		}
		switch b.Op {
		case OpSet, OpEquals:
		case OpMatches:
			re, err := regexp.Compile(b.Value)
			if err != nil {
				return fmt.Errorf("pattern: %w", err)
			}
			b.pattern = re
		default:
			return fmt.Errorf("condition op %q: want set, equals or matches", b.Op)
		}
		if err := s.ref("then", b.Then, true); err != nil {
			return err
		}
		if err := s.ref("else", b.Else, true); err != nil {
			return err
		}
	case "":
		return fmt.Errorf("missing kind")
	default:
		return fmt.Errorf("unknown kind %q", b.Kind)
	}
	if b.Kind == KindGoal && b.Goal == "" {
		return fmt.Errorf("goal without a name")
	}
	if b.Kind == KindTag && b.Tag == "" {
		return fmt.Errorf("tag without a name")
	}
	if b.Kind == KindEnd && b.Next != "" {
		return fmt.Errorf("end block with a next")
	}
	return s.ref("next", b.Next, false)
}

// checkLoops refuses a cycle of blocks that never wait for the visitor: it
// would make the bot talk forever.
func (s *Story) checkLoops() error {
	const (
		unseen = iota
		active
		done
	)
	state := make(map[string]int, len(s.Blocks))
	var visit func(id string) error
	visit = func(id string) error {
		b := s.byID[id]
		if b == nil || b.waits() {
			return nil
		}
		switch state[id] {
		case active:
			return fmt.Errorf("story %s: block %q: loops back to itself without waiting for the visitor", s.Bot, id)
		case done:
			return nil
		}
		state[id] = active
		for _, next := range []string{b.Next, b.Then, b.Else} {
			if err := visit(next); err != nil {
				return err
			}
		}
		state[id] = done
		return nil
	}
	for i := range s.Blocks {
		if err := visit(s.Blocks[i].ID); err != nil {
			return err
		}
	}
	return nil
}
