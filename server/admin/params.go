package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parley-chat/parley/storage"
)

// writeQueryError answers a failed query: 400 naming the parameter for a
// bad value, 404 for a missing record, 500 (logged) for anything else.
func (a *Admin) writeQueryError(w http.ResponseWriter, r *http.Request, err error) {
	var fe *storage.FieldError
	switch {
	case errors.As(err, &fe):
		a.errs.Param(w, r, http.StatusBadRequest, "invalid_parameter", queryParam(fe.Field), fe.Msg)
	case isNotFound(err):
		a.errs.Error(w, r, http.StatusNotFound, "not_found", "no such record")
	case r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
	default:
		a.errs.Internal(w, r, fmt.Errorf("admin: query: %w", err), "the query failed")
	}
}

// byID answers 404, as for a missing record, when the path's {id} is not
// an ID Parley gives (a ULID), before any store reads it: PostgreSQL
// refuses some strings (a NUL byte) with an error, not an empty result.
func (a *Admin) byID(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !storage.ValidID(r.PathValue("id")) {
			a.errs.Error(w, r, http.StatusNotFound, "not_found", "no such record")
			return
		}
		h(w, r)
	}
}

// queryParam is the query parameter that sets a field of the store's
// queries (storage.UserQuery, SessionQuery, UsageQuery): the API spells
// each as its field in lower case (From is from, Cursor is cursor).
func queryParam(field string) string { return strings.ToLower(field) }

// params reads query parameters, keeping the first error.
type params struct {
	r   *http.Request
	err *paramError
}

// paramError is a bad query parameter.
type paramError struct{ name, msg string }

func (p *params) fail(name, msg string) {
	if p.err == nil {
		p.err = &paramError{name, msg}
	}
}

// str reads a parameter as it is. One with control characters (a NUL
// byte, which PostgreSQL cannot hold in text) is refused: no filter or
// search of the admin views matches one.
func (p *params) str(name string) string {
	v := p.r.URL.Query().Get(name)
	if storage.CleanText(v) != v {
		p.fail(name, "has control characters")
		return ""
	}
	return v
}

// time reads an RFC3339 time; a missing one is zero.
func (p *params) time(name string) time.Time {
	v := p.str(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		p.fail(name, "not an RFC3339 time like 2025-01-31T00:00:00Z")
		return time.Time{}
	}
	return t.UTC()
}

// flag reads a yes/no filter: 1/true/yes or 0/false/no; missing is nil.
func (p *params) flag(name string) *bool {
	yes, no := true, false
	switch p.str(name) {
	case "":
		return nil
	case "1", "true", "yes":
		return &yes
	case "0", "false", "no":
		return &no
	}
	p.fail(name, "must be 1 or 0")
	return nil
}

// on reads a toggle: set means on; "0" or "false" means off.
func (p *params) on(name string) bool {
	b := p.flag(name)
	return b != nil && *b
}

// limit reads the page size: 1..500, default 50.
func (p *params) limit() int {
	v := p.str("limit")
	if v == "" {
		return storage.DefaultLimit
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > storage.MaxLimit {
		p.fail("limit", "must be a number from 1 to 500")
		return storage.DefaultLimit
	}
	return n
}

// period reads from and to and checks their order.
func (p *params) period() (from, to time.Time) {
	from, to = p.time("from"), p.time("to")
	if !from.IsZero() && !to.IsZero() && from.After(to) {
		p.fail("from", "is after to")
	}
	return from, to
}

// flags reads the overview's three toggles.
func (p *params) flags() byte {
	var f byte
	if p.on("engaged") {
		f |= storage.FlagEngaged
	}
	if p.on("files") {
		f |= storage.FlagFiles
	}
	if p.on("inputs") {
		f |= storage.FlagInputs
	}
	return f
}

// readQuery reads the request's query with read and answers 400 for the
// first bad parameter; ok says whether the handler goes on.
func readQuery[Q any](a *Admin, w http.ResponseWriter, r *http.Request, read func(*params) Q) (q Q, ok bool) {
	p := &params{r: r}
	q = read(p)
	if p.err != nil {
		a.errs.Param(w, r, http.StatusBadRequest, "invalid_parameter", p.err.name, p.err.msg)
		return q, false
	}
	return q, true
}
