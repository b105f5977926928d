package admin

import (
	"net/http"
)

// Routes registers the admin API, the privacy and backup routes and the
// console on mux. The API has its own mux behind one Guard, so every
// route of it (and every unknown path under it) needs the token and
// shares one failure count; the console's files are public (they hold no
// data) and ask for the token in a login form.
func (a *Admin) Routes(mux *http.ServeMux) {
	api := http.NewServeMux()
	api.HandleFunc("GET /admin/api/users", a.listUsers)
	api.HandleFunc("GET /admin/api/users.csv", a.exportUsers)
	api.HandleFunc("GET /admin/api/users/{id}", a.byID(a.getUser))
	api.HandleFunc("PATCH /admin/api/users/{id}", a.patchUser)
	api.HandleFunc("GET /admin/api/users/{id}/sessions", a.byID(a.listUserSessions))
	api.HandleFunc("GET /admin/api/sessions", a.listSessions)
	api.HandleFunc("GET /admin/api/sessions.csv", a.exportSessions)
	api.HandleFunc("GET /admin/api/sessions/{id}", a.byID(a.getTranscript))
	api.HandleFunc("GET /admin/api/gaps", a.listGaps)
	api.HandleFunc("GET /admin/api/gaps.csv", a.exportGaps)
	api.HandleFunc("GET /admin/api/usage", a.getUsage)
	api.HandleFunc("GET /admin/api/usage/sessions.csv", a.exportUsageSessions)
	api.HandleFunc("GET /admin/api/funnel", a.getFunnel)
	api.HandleFunc("GET /admin/api/me", a.getMe)
	api.HandleFunc("GET /admin/api/agents", a.listAgents)
	api.HandleFunc("POST /admin/api/agents", a.adminOnly(a.addAgent))
	api.HandleFunc("DELETE /admin/api/agents/{name}", a.adminOnly(a.revokeAgent))
	a.lifecycleRoutes(api)
	if a.hooks != nil {
		a.webhookRoutes(api) // webhooks.go
	}
	a.inboxRoutes(api)
	api.HandleFunc("/admin/api/", a.unknown)
	mux.Handle("/admin/api/", a.Guard(api))
	// Signing in and out take no credential but the one in the body or
	// the cookie; a wrong one counts against the address like a wrong token.
	mux.Handle("POST /admin/api/signin", a.headers(http.HandlerFunc(a.signIn)))
	mux.Handle("POST /admin/api/signout", a.headers(http.HandlerFunc(a.signOut)))
	mux.Handle("/admin/", a.headers(http.HandlerFunc(a.serveConsole)))
	mux.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
}

// lifecycleRoutes registers the data-lifecycle routes: the privacy
// requests (privacy.go) and the online backup (backup.go).
func (a *Admin) lifecycleRoutes(api *http.ServeMux) {
	api.HandleFunc("DELETE /admin/api/users/{id}", a.adminOnly(a.eraseUser))
	api.HandleFunc("GET /admin/api/users/{id}/export", a.exportUser)
	api.HandleFunc("GET /admin/api/backup", a.adminOnly(a.serveBackup))
}

// unknown answers a path under /admin/api/ that no route takes.
func (a *Admin) unknown(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		a.errs.Error(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "no such admin endpoint for "+r.Method)
		return
	}
	a.errs.Error(w, r, http.StatusNotFound, "not_found", "no such admin endpoint")
}
