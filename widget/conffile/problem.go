// Package conffile reads Parley's JSON files written by hand (the sites
// config and stories) strictly, and reports every problem at once, each
// with its file, line and column, where in the file it is (site, block)
// and, for a near-miss name, what was probably meant. It knows nothing of
// sites or stories: the packages that own them say what is wrong.
package conffile

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a file. A warning does not stop the
// file from being used; an error does.
type Problem struct {
	File      string
	Line, Col int    // 1-based; 0 when not known
	Where     string // e.g. `site acme: block "ask"`; may be empty
	Msg       string
	Warning   bool
}

// String is the problem as one line: "FILE:LINE:COL: [warning: ]WHERE: MSG".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", p.Line, p.Col)
	}
	b.WriteString(": ")
	if p.Warning {
		b.WriteString("warning: ")
	}
	if p.Where != "" {
		b.WriteString(p.Where)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems are a file's problems, in the order found.
type Problems []Problem

// Errors returns the problems that are not warnings.
func (ps Problems) Errors() Problems { return ps.filter(false) }

// Warnings returns the problems that are warnings.
func (ps Problems) Warnings() Problems { return ps.filter(true) }

func (ps Problems) filter(warning bool) Problems {
	var out Problems
	for _, p := range ps {
		if p.Warning == warning {
			out = append(out, p)
		}
	}
	return out
}

// Err returns nil when there are no errors, else an error listing every
// error, one a line. Warnings are left out.
func (ps Problems) Err() error {
	errs := ps.Errors()
	if len(errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(errs.Strings(), "\n"))
}

// Within returns the problems with where put before each one's own Where,
// e.g. the site whose story they are in.
func (ps Problems) Within(where string) Problems {
	out := make(Problems, len(ps))
	for i, p := range ps {
		if p.Where == "" {
			p.Where = where
		} else {
			p.Where = where + ": " + p.Where
		}
		out[i] = p
	}
	return out
}

// Sorted returns the problems ordered as they appear: files in the order
// first named, then by line and column.
func (ps Problems) Sorted() Problems {
	order := map[string]int{}
	for _, p := range ps {
		if _, ok := order[p.File]; !ok {
			order[p.File] = len(order)
		}
	}
	out := slices.Clone(ps)
	slices.SortStableFunc(out, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(order[a.File], order[b.File]), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return out
}

// Strings returns each problem as its one line.
func (ps Problems) Strings() []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
