package server

import (
	"context"
	"net/http"
	"time"
)

// adminRoutes registers the admin API and console under /admin/. The API
// has its own mux behind one requireAdmin, so every route of it (and
// every unknown path under it) needs the token and shares one failure
// count; the console's files are public (they hold no data) and ask for
// the token in a login form.
func (s *Server) adminRoutes() {
	// A store written before the admin indexes (or with an older layout)
	// is indexed once, before anything is served.
	start := time.Now()
	if n, err := s.Store.BuildIndexes(context.Background()); err != nil {
		s.log.Error("admin: building the indexes failed; the admin views may miss records", "err", err)
	} else if n > 0 {
		s.log.Info("admin: indexed the stored sessions", "sessions", n, "took", time.Since(start).Round(time.Millisecond))
	}

	api := http.NewServeMux()
	api.HandleFunc("GET /admin/api/users", s.listUsers)
	api.HandleFunc("GET /admin/api/users.csv", s.exportUsers)
	api.HandleFunc("GET /admin/api/users/{id}", s.getUser)
	api.HandleFunc("GET /admin/api/users/{id}/sessions", s.listUserSessions)
	api.HandleFunc("GET /admin/api/sessions", s.listSessions)
	api.HandleFunc("GET /admin/api/sessions.csv", s.exportSessions)
	api.HandleFunc("GET /admin/api/sessions/{id}", s.getTranscript)
	api.HandleFunc("GET /admin/api/usage", s.getUsage)
	api.HandleFunc("GET /admin/api/usage/sessions.csv", s.exportUsageSessions)
	api.HandleFunc("/admin/api/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeAdminError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "", "the admin API only reads")
			return
		}
		writeAdminError(w, r, http.StatusNotFound, "not_found", "", "no such admin endpoint")
	})
	s.mux.Handle("/admin/api/", s.requireAdmin(api))
	s.mux.Handle("/admin/", s.adminHeaders(http.HandlerFunc(s.serveConsole)))
	s.mux.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
}
