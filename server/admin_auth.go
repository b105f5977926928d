package server

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// requireAdmin lets a request through only with the admin bearer token,
// compared in constant time; anything else gets a 401 JSON error.
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	want := []byte(s.cfg.AdminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley-admin"`)
			writeError(w, r, http.StatusUnauthorized, "unauthorized", "a valid admin token is required")
			return
		}
		next.ServeHTTP(w, r)
	})
}
