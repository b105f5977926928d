package conffile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// maxDepth bounds nesting; Parley's files need four levels.
const maxDepth = 64

// Kind is the JSON type of a node.
type Kind int

// JSON types.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

// Node is one JSON value with the offset in the file where it starts.
type Node struct {
	Kind   Kind
	Off    int
	Str    string // String; Number holds its text
	Bool   bool
	Fields []Field // Object, in file order
	Elems  []*Node // Array
}

// Field is one member of an object.
type Field struct {
	Name string
	Off  int // of the name
	Val  *Node
}

// Get returns the value of the object's field name, or nil.
func (n *Node) Get(name string) *Node {
	if n == nil {
		return nil
	}
	for i := range n.Fields {
		if n.Fields[i].Name == name {
			return n.Fields[i].Val
		}
	}
	return nil
}

// Doc is a parsed file: its name, its bytes and its root value.
type Doc struct {
	File string
	Root *Node
	src  []byte
}

// Parse reads one JSON value from src. A syntax error is returned as the
// one problem, at its line and column; no Doc then.
func Parse(file string, src []byte) (*Doc, Problems) {
	d := &Doc{File: file, src: src}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	p := &parser{doc: d, dec: dec}
	root, err := p.value(0)
	if err == nil {
		off := p.next()
		if _, terr := dec.Token(); terr != io.EOF {
			err = &syntaxError{off, "unexpected text after the end of the JSON value"}
		}
	}
	if err != nil {
		return nil, Problems{d.syntaxProblem(err)}
	}
	d.Root = root
	return d, nil
}

// syntaxError is a problem found by the parser at an offset.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

type parser struct {
	doc *Doc
	dec *json.Decoder
}

// next returns the offset of the next token: past white space and the
// ',' or ':' the decoder has not consumed yet.
func (p *parser) next() int {
	off := int(p.dec.InputOffset())
	for off < len(p.doc.src) {
		switch p.doc.src[off] {
		case ' ', '\t', '\n', '\r', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

func (p *parser) value(depth int) (*Node, error) {
	if depth > maxDepth {
		return nil, &syntaxError{p.next(), "nested too deeply"}
	}
	off := p.next()
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	n := &Node{Off: off}
	switch t := tok.(type) {
	case nil:
		n.Kind = Null
	case bool:
		n.Kind, n.Bool = Bool, t
	case json.Number:
		n.Kind, n.Str = Number, string(t)
	case string:
		n.Kind, n.Str = String, t
	case json.Delim:
		if t == '[' {
			n.Kind = Array
			for p.dec.More() {
				e, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.Elems = append(n.Elems, e)
			}
		} else {
			n.Kind = Object
			for p.dec.More() {
				koff := p.next()
				k, err := p.dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.Fields = append(n.Fields, Field{Name: k.(string), Off: koff, Val: v})
			}
		}
		if _, err := p.dec.Token(); err != nil { // the closing ']' or '}'
			return nil, err
		}
	}
	return n, nil
}

// syntaxProblem words a parse failure with its position.
func (d *Doc) syntaxProblem(err error) Problem {
	var se *json.SyntaxError
	var own *syntaxError
	switch {
	case errors.As(err, &own):
		return d.Errorf(own.off, "", "JSON syntax: %s", own.msg)
	case errors.As(err, &se):
		// The offset is where the decoder stopped: at the offending
		// character, or before the white space leading to it.
		off := d.skipSpace(int(se.Offset))
		msg := se.Error()
		if off < len(d.src) && (d.src[off] == '}' || d.src[off] == ']') && d.prevByte(off) == ',' {
			msg += " (a comma before a closing bracket is not allowed in JSON)"
		}
		return d.Errorf(off, "", "JSON syntax: %s", msg)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return d.Errorf(len(d.src), "", "JSON syntax: the file ends before its value does (a missing '}', ']' or '\"'?)")
	}
	return d.Errorf(len(d.src), "", "JSON syntax: %v", err)
}

// skipSpace returns the offset of the first byte at or after off that is
// not white space.
func (d *Doc) skipSpace(off int) int {
	for off < len(d.src) && (d.src[off] == ' ' || d.src[off] == '\t' || d.src[off] == '\n' || d.src[off] == '\r') {
		off++
	}
	return off
}

// prevByte is the last byte before off that is not white space.
func (d *Doc) prevByte(off int) byte {
	for i := off - 1; i >= 0; i-- {
		switch d.src[i] {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return d.src[i]
	}
	return 0
}

// Pos returns the 1-based line and column (in characters) of offset off.
func (d *Doc) Pos(off int) (line, col int) {
	if off > len(d.src) {
		off = len(d.src)
	}
	if off < 0 {
		off = 0
	}
	before := d.src[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}

// Errorf is an error at offset off of the file.
func (d *Doc) Errorf(off int, where, format string, a ...any) Problem {
	line, col := d.Pos(off)
	return Problem{File: d.File, Line: line, Col: col, Where: where, Msg: fmt.Sprintf(format, a...)}
}

// Warnf is a warning at offset off of the file.
func (d *Doc) Warnf(off int, where, format string, a ...any) Problem {
	p := d.Errorf(off, where, format, a...)
	p.Warning = true
	return p
}

// At returns the offset of field name of n, the value's, or n's own when
// n has no such field: where to point a problem about that field.
func At(n *Node, name string) int {
	if v := n.Get(name); v != nil {
		return v.Off
	}
	if n == nil {
		return 0
	}
	return n.Off
}

// Offset returns the offset of element i of n's list field name, else
// that of the field, else n's: where to point a problem about the element.
func (n *Node) Offset(name string, i int) int {
	if v := n.Get(name); v != nil && i < len(v.Elems) {
		return v.Elems[i].Off
	}
	return At(n, name)
}

// OffsetIn returns the offset of sub inside the string value n as written
// in the file, or n's own offset when it is not written there as is (an
// escape inside it, or n is no string): to point at a word in a text.
func (d *Doc) OffsetIn(n *Node, sub string) int {
	if n == nil || n.Kind != String || n.Off >= len(d.src) || d.src[n.Off] != '"' {
		return At(n, "")
	}
	end := n.Off + 1
	for end < len(d.src) && d.src[end] != '"' {
		if d.src[end] == '\\' {
			end++
		}
		end++
	}
	if i := bytes.Index(d.src[n.Off+1:min(end, len(d.src))], []byte(sub)); i >= 0 {
		return n.Off + 1 + i
	}
	return n.Off
}
