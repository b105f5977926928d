// Package respond writes Parley's HTTP answers in JSON: a value, or an
// error in the one shape every endpoint uses,
// {"code":"…","message":"…","param":"…"} (param only where a query
// parameter is at fault). The widget gateway and the upload handler may
// not import it (DESIGN.md, Packages); server hands them Writer.Error.
package respond

import (
	"encoding/json"
	"log/slog"
	"net/http"
)

// Error is the body of every error answer. Code is stable and meant for
// programs; Message is for people; Param names the query parameter at
// fault, when one is (then Message starts with "param: ").
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
}

// JSON answers status with v as JSON.
func JSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Writer writes error answers and logs the failed ones (5xx) through Log.
type Writer struct {
	Log *slog.Logger
}

// Error answers status with the error code and message.
func (wr Writer) Error(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	wr.write(w, r, status, Error{Code: code, Message: message}, nil)
}

// Param answers status with an error naming the query parameter param.
func (wr Writer) Param(w http.ResponseWriter, r *http.Request, status int, code, param, message string) {
	wr.write(w, r, status, Error{Code: code, Message: param + ": " + message, Param: param}, nil)
}

// Internal answers 500 "internal" with message and logs cause.
func (wr Writer) Internal(w http.ResponseWriter, r *http.Request, cause error, message string) {
	wr.Fail(w, r, http.StatusInternalServerError, "internal", message, cause)
}

// Fail answers status with the error code and message; an answer of 500
// or more is logged with cause (nil for none).
func (wr Writer) Fail(w http.ResponseWriter, r *http.Request, status int, code, message string, cause error) {
	wr.write(w, r, status, Error{Code: code, Message: message}, cause)
}

func (wr Writer) write(w http.ResponseWriter, r *http.Request, status int, e Error, cause error) {
	if status >= 500 && wr.Log != nil {
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", status, "code", e.Code}
		if cause != nil {
			attrs = append(attrs, "err", cause)
		}
		wr.Log.Error("request failed", attrs...)
	}
	JSON(w, status, e)
}
