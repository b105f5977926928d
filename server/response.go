package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/parley-chat/parley/storage"
)

// apiError is the JSON body of every error answer.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers with a JSON error; 5xx answers are logged.
func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if status >= 500 {
		slog.Default().Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "code", code)
	}
	writeJSON(w, status, apiError{Code: code, Message: msg})
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }
