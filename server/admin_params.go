package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/parley-chat/parley/storage"
)

// adminError is the JSON body of an admin error; Param names the query
// parameter at fault, when one is.
type adminError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
}

// writeAdminError answers with an adminError; 5xx answers are logged.
func writeAdminError(w http.ResponseWriter, r *http.Request, status int, code, param, msg string) {
	if param != "" {
		msg = param + ": " + msg
	}
	if status >= 500 {
		writeError(w, r, status, code, msg)
		return
	}
	writeJSON(w, status, adminError{Code: code, Message: msg, Param: param})
}

// writeQueryError answers a failed query: 400 naming the parameter for a
// bad value, 404 for a missing record, 500 (logged) for anything else.
func (s *Server) writeQueryError(w http.ResponseWriter, r *http.Request, err error) {
	var pe *storage.ParamError
	switch {
	case errors.As(err, &pe):
		writeAdminError(w, r, http.StatusBadRequest, "invalid_parameter", pe.Param, pe.Msg)
	case isNotFound(err):
		writeAdminError(w, r, http.StatusNotFound, "not_found", "", "no such record")
	case r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
	default:
		s.log.Error("admin query failed", "path", r.URL.Path, "err", err)
		writeError(w, r, http.StatusInternalServerError, "internal", "the query failed")
	}
}

// params reads query parameters, keeping the first error.
type params struct {
	r   *http.Request
	err *storage.ParamError
}

func (p *params) fail(name, msg string) {
	if p.err == nil {
		p.err = &storage.ParamError{Param: name, Msg: msg}
	}
}

func (p *params) str(name string) string { return p.r.URL.Query().Get(name) }

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

// check answers 400 for the first bad parameter and reports whether all
// were good.
func (p *params) check(w http.ResponseWriter) bool {
	if p.err == nil {
		return true
	}
	writeAdminError(w, p.r, http.StatusBadRequest, "invalid_parameter", p.err.Param, p.err.Msg)
	return false
}
