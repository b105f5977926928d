package conffile

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Decode fills v (a pointer to a struct) from n, as encoding/json would
// with unknown fields disallowed, but goes on past every problem: an
// unknown field (with the known name it is probably a typo of), a value
// of the wrong type (in JSON words, never Go's), a duplicate field. Fields
// are matched by their json tag exactly; a field without a tag is skipped.
func (d *Doc) Decode(n *Node, v any, where string) Problems {
	var ps Problems
	d.decode(n, reflect.ValueOf(v).Elem(), "", where, &ps)
	return ps
}

func (d *Doc) decode(n *Node, v reflect.Value, path, where string, ps *Problems) {
	if n.Kind == Null {
		return // as encoding/json: null leaves the zero value
	}
	want := func(what string) {
		*ps = append(*ps, d.Errorf(n.Off, where, "%swant %s, got %s", prefix(path), what, describe(n)))
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path, where, ps)
	case reflect.Struct:
		if n.Kind != Object {
			want("an object {…}")
			return
		}
		d.decodeStruct(n, v, path, where, ps)
	case reflect.Slice:
		if n.Kind != Array {
			want("a list […]")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Elems), len(n.Elems))
		for i, e := range n.Elems {
			d.decode(e, s.Index(i), fmt.Sprintf("%s[%d]", path, i), where, ps)
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != String {
			want("text in quotes")
			return
		}
		v.SetString(n.Str)
	case reflect.Bool:
		if n.Kind != Bool {
			want("true or false")
			return
		}
		v.SetBool(n.Bool)
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n.Kind != Number {
			want("a number")
			return
		}
		i, err := strconv.ParseInt(n.Str, 10, 64)
		if err != nil || v.OverflowInt(i) {
			want("a whole number")
			return
		}
		v.SetInt(i)
	default:
		panic("conffile: cannot decode into " + v.Type().String())
	}
}

func (d *Doc) decodeStruct(n *Node, v reflect.Value, path, where string, ps *Problems) {
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if tag == "" || tag == "-" || !t.Field(i).IsExported() {
			continue
		}
		fields[tag] = i
		names = append(names, tag)
	}
	seen := map[string]bool{}
	for _, f := range n.Fields {
		i, ok := fields[f.Name]
		switch {
		case !ok:
			*ps = append(*ps, d.Errorf(f.Off, where, "%sunknown field %q%s", prefix(path), f.Name, DidYouMean(f.Name, names)))
		case seen[f.Name]:
			*ps = append(*ps, d.Errorf(f.Off, where, "%s%q is given twice", prefix(path), f.Name))
		default:
			seen[f.Name] = true
			d.decode(f.Val, v.Field(i), join(path, f.Name), where, ps)
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func prefix(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

// describe words a value for "got …": its text for a scalar (quoted and
// cut short for text), its kind for a list or an object.
func describe(n *Node) string {
	switch n.Kind {
	case String:
		s := n.Str
		if r := []rune(s); len(r) > 40 {
			s = string(r[:40]) + "…"
		}
		return strconv.Quote(s)
	case Number:
		return n.Str
	case Bool:
		return strconv.FormatBool(n.Bool)
	case Array:
		return "a list"
	case Object:
		return "an object"
	}
	return "null"
}
