package story

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/parley-chat/parley/widget/conffile"
)

const maxBlocks = 10000

// storyType is what a story's type may be: a word for a filter's menu.
var storyType = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// checker validates a decoded story against the file it came from, so
// that each problem points at its line and column. It collects every
// problem instead of stopping at the first.
type checker struct {
	s   *Story
	doc *conffile.Doc
	ps  conffile.Problems
	// dangling says a reference names no block: what is unreachable is
	// then unknown.
	dangling bool
}

func (c *checker) errorf(n *conffile.Node, field, where, format string, a ...any) {
	c.ps = append(c.ps, c.doc.Errorf(conffile.At(n, field), where, format, a...))
}

func (c *checker) warnf(n *conffile.Node, field, where, format string, a ...any) {
	c.ps = append(c.ps, c.doc.Warnf(conffile.At(n, field), where, format, a...))
}

// blockNode is the JSON object of block i (the root when the blocks did
// not decode as a list).
func (c *checker) blockNode(i int) *conffile.Node {
	if bs := c.doc.Root.Get("blocks"); bs != nil && i < len(bs.Elems) {
		return bs.Elems[i]
	}
	return c.doc.Root
}

// blockWhere names block i in messages.
func (c *checker) blockWhere(i int) string {
	if id := c.s.Blocks[i].ID; id != "" {
		return fmt.Sprintf("block %q", id)
	}
	return fmt.Sprintf("block #%d", i+1)
}

// decode fills the story from the file, each block on its own so that its
// problems name it.
func (c *checker) decode() {
	root := c.doc.Root
	top := *root
	top.Fields = slices.DeleteFunc(slices.Clone(root.Fields), func(f conffile.Field) bool { return f.Name == "blocks" })
	c.ps = append(c.ps, c.doc.Decode(&top, c.s, "")...)
	blocks := root.Get("blocks")
	if blocks == nil || blocks.Kind == conffile.Null {
		return
	}
	if blocks.Kind != conffile.Array {
		c.errorf(blocks, "", "", "blocks: want a list […] of blocks")
		return
	}
	c.s.Blocks = make([]Block, len(blocks.Elems))
	for i, bn := range blocks.Elems {
		where := fmt.Sprintf("block #%d", i+1)
		if id := bn.Get("id"); id != nil && id.Kind == conffile.String && id.Str != "" {
			where = fmt.Sprintf("block %q", id.Str)
		}
		c.ps = append(c.ps, c.doc.Decode(bn, &c.s.Blocks[i], where)...)
	}
}

// missing reports whether field of n is absent or empty text; a value of
// another type was already reported by decode.
func missing(n *conffile.Node, field, value string) bool {
	v := n.Get(field)
	return strings.TrimSpace(value) == "" && (v == nil || v.Kind == conffile.String || v.Kind == conffile.Null)
}

// validate checks the story's shape and references, indexes its blocks
// and adds the warnings.
func (c *checker) validate() {
	s, root := c.s, c.doc.Root
	if missing(root, "bot", s.Bot) {
		c.errorf(root, "bot", "", "missing bot name (\"bot\": the story's name in reports)")
	}
	if missing(root, "version", s.Version) {
		c.errorf(root, "version", "", "missing version")
	}
	if s.Type != "" && !storyType.MatchString(s.Type) {
		c.errorf(root, "type", "", "type %q: want a short lower-case word like lead or support (a-z, 0-9, - and _, at most 32)", s.Type)
	}
	switch {
	case len(s.Blocks) == 0:
		c.errorf(root, "blocks", "", "no blocks")
		return
	case len(s.Blocks) > maxBlocks:
		c.errorf(root, "blocks", "", "%d blocks, at most %d", len(s.Blocks), maxBlocks)
		return
	}
	s.byID = make(map[string]*Block, len(s.Blocks))
	for i := range s.Blocks {
		b := &s.Blocks[i]
		switch _, dup := s.byID[b.ID]; {
		case b.ID == "":
			c.errorf(c.blockNode(i), "id", c.blockWhere(i), "missing id")
		case dup:
			c.errorf(c.blockNode(i), "id", c.blockWhere(i), "duplicate id")
		default:
			s.byID[b.ID] = b
		}
	}
	for i := range s.Blocks {
		c.validateBlock(i)
	}
	c.ref(root, "start", "", s.Start, true)
	c.ref(root, "fallback", "", s.Fallback, true)
	c.checkLoops()
	if !c.dangling {
		c.warnUnreachable()
	}
	c.warnVariables()
}

// ref checks that the reference in field of n names a block, suggesting
// the block probably meant when it does not.
func (c *checker) ref(n *conffile.Node, field, where, id string, required bool) {
	if id == "" {
		if required {
			c.errorf(n, field, where, "missing %s", field)
		}
		return
	}
	if c.s.byID[id] == nil {
		c.dangling = true
		c.errorf(n, field, where, "%s %q: no such block%s", field, id, conffile.DidYouMean(id, c.blockIDs()))
	}
}

func (c *checker) blockIDs() []string {
	ids := make([]string, 0, len(c.s.Blocks))
	for _, b := range c.s.Blocks {
		ids = append(ids, b.ID)
	}
	return ids
}

func (c *checker) validateBlock(i int) {
	b, n, where := &c.s.Blocks[i], c.blockNode(i), c.blockWhere(i)
	switch b.Kind {
	case KindMessage, KindGoal, KindTag, KindEnd:
	case KindHandover:
		if b.Next == "" {
			c.errorf(n, "next", where, "handover without a next: where the story goes on when no person takes the conversation in time")
		}
	case KindChoice:
		if len(b.Options) == 0 {
			c.errorf(n, "options", where, "choice without options")
		}
		seen := map[string]bool{}
		for j, o := range b.Options {
			on := n
			if opts := n.Get("options"); opts != nil && j < len(opts.Elems) {
				on = opts.Elems[j]
			}
			switch {
			case o.ID == "" || o.Label == "":
				c.errorf(on, "", where, "option #%d needs an id and a label", j+1)
			case seen[o.ID]:
				c.errorf(on, "id", where, "option %q: duplicate id", o.ID)
			}
			seen[o.ID] = true
			c.ref(on, "next", where+": option "+fmt.Sprintf("%q", o.ID), o.Next, true)
		}
	case KindInput:
		switch b.Input {
		case InputText, InputEmail, InputPhone:
		default:
			c.errorf(n, "input", where, "input kind %q: want text, email or phone%s", b.Input,
				conffile.DidYouMean(b.Input, []string{InputText, InputEmail, InputPhone}))
		}
		if b.Variable == "" {
			c.errorf(n, "variable", where, "input without a variable")
		}
	case KindUpload:
		if len(b.Accept) == 0 {
			c.errorf(n, "accept", where, "upload without an accept list")
		}
		for j, a := range b.Accept {
			if msg := AcceptProblem(a); msg != "" {
				an := n.Get("accept")
				if an != nil && j < len(an.Elems) {
					an = an.Elems[j]
				}
				c.warnf(an, "", where, "accept %q: %s", a, msg)
			}
		}
		if b.MaxBytes < 0 {
			c.errorf(n, "maxBytes", where, "upload maxBytes is negative")
		}
		if b.Skip != nil {
			sn := n
			if x := n.Get("skip"); x != nil {
				sn = x
			}
			if strings.TrimSpace(b.Skip.Label) == "" {
				c.errorf(sn, "label", where, "upload skip without a label")
			}
			c.ref(sn, "next", where+": skip", b.Skip.Next, false)
		}
	case KindCondition:
		if b.Variable == "" {
			c.errorf(n, "variable", where, "condition without a variable")
		}
		switch b.Op {
		case OpSet, OpEquals:
		case OpMatches:
			re, err := regexp.Compile(b.Value)
			if err != nil {
				c.errorf(n, "value", where, "pattern: %v", err)
			}
			b.pattern = re
		default:
			c.errorf(n, "op", where, "condition op %q: want set, equals or matches%s", b.Op,
				conffile.DidYouMean(b.Op, []string{OpSet, OpEquals, OpMatches}))
		}
		c.ref(n, "then", where, b.Then, true)
		c.ref(n, "else", where, b.Else, true)
	case "":
		c.errorf(n, "kind", where, "missing kind")
	default:
		c.errorf(n, "kind", where, "unknown kind %q%s", b.Kind, conffile.DidYouMean(b.Kind, kinds))
	}
	if b.Kind == KindGoal && b.Goal == "" {
		c.errorf(n, "goal", where, "goal without a name")
	}
	if b.Kind == KindTag && b.Tag == "" {
		c.errorf(n, "tag", where, "tag without a name")
	}
	if b.Skip != nil && b.Kind != KindUpload {
		c.errorf(n, "skip", where, "skip on a %s block: only upload blocks have one", b.Kind)
	}
	if b.Kind == KindEnd && b.Next != "" {
		c.errorf(n, "next", where, "end block with a next")
		return
	}
	c.ref(n, "next", where, b.Next, false)
}

var kinds = []string{KindMessage, KindChoice, KindInput, KindUpload, KindCondition, KindGoal, KindTag, KindEnd, KindHandover}

// successors are the blocks b may go to.
func successors(b *Block) []string {
	next := []string{b.Next, b.Then, b.Else}
	for _, o := range b.Options {
		next = append(next, o.Next)
	}
	if b.Skip != nil {
		next = append(next, b.Skip.Next)
	}
	return next
}

// checkLoops refuses a cycle of blocks that never wait for the visitor: it
// would make the bot talk forever.
func (c *checker) checkLoops() {
	const (
		unseen = iota
		active
		done
	)
	s := c.s
	state := make(map[string]int, len(s.Blocks))
	var visit func(id string) bool
	visit = func(id string) bool {
		b := s.byID[id]
		if b == nil || b.waits() {
			return false
		}
		switch state[id] {
		case active:
			return true
		case done:
			return false
		}
		state[id] = active
		for _, next := range []string{b.Next, b.Then, b.Else} {
			if visit(next) {
				return true
			}
		}
		state[id] = done
		return false
	}
	for i := range s.Blocks {
		if state[s.Blocks[i].ID] == unseen && visit(s.Blocks[i].ID) {
			c.errorf(c.blockNode(i), "id", c.blockWhere(i), "loops back to itself without waiting for the visitor")
			return // one loop is enough to say; the rest is marked active
		}
	}
}

// warnUnreachable warns of blocks that neither start nor fallback lead to.
func (c *checker) warnUnreachable() {
	reached := map[string]bool{}
	queue := []string{c.s.Start, c.s.Fallback}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		b := c.s.byID[id]
		if b == nil || reached[id] {
			continue
		}
		reached[id] = true
		queue = append(queue, successors(b)...)
	}
	for i, b := range c.s.Blocks {
		if b.ID != "" && !reached[b.ID] {
			c.warnf(c.blockNode(i), "id", c.blockWhere(i), "unreachable: neither start nor fallback leads here")
		}
	}
}

// warnVariables warns of texts inserting, and conditions testing, a
// variable no input or upload block sets: the text shows nothing there,
// the condition never holds.
func (c *checker) warnVariables() {
	var set []string
	for _, b := range c.s.Blocks {
		if (b.Kind == KindInput || b.Kind == KindUpload) && b.Variable != "" && !slices.Contains(set, b.Variable) {
			set = append(set, b.Variable)
		}
	}
	for i, b := range c.s.Blocks {
		for _, m := range placeholder.FindAllStringSubmatch(b.Text, -1) {
			if !slices.Contains(set, m[1]) {
				at := c.doc.OffsetIn(c.blockNode(i).Get("text"), m[0])
				c.ps = append(c.ps, c.doc.Warnf(at, c.blockWhere(i), "text: no input or upload block sets {{%s}}, so it shows as empty text%s",
					m[1], conffile.DidYouMean(m[1], set)))
			}
		}
		if b.Kind == KindCondition && b.Variable != "" && !slices.Contains(set, b.Variable) {
			c.warnf(c.blockNode(i), "variable", c.blockWhere(i), "variable %q: no input or upload block sets it, so the condition never holds%s",
				b.Variable, conffile.DidYouMean(b.Variable, set))
		}
	}
}
