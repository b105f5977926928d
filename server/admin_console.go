package server

import (
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/parley-chat/parley/server/console"
)

var (
	consoleOnce   sync.Once
	consoleAssets map[string]asset
)

// loadConsole reads the console's embedded files once, with checksums.
func loadConsole() map[string]asset {
	consoleOnce.Do(func() {
		consoleAssets = map[string]asset{}
		for _, name := range []string{"index.html", "app.css", "app.js", "chart.js"} {
			b, err := console.FS.ReadFile(name)
			if err != nil {
				panic("server: embedded console file missing: " + name)
			}
			sum := sha256.Sum256(b)
			consoleAssets[name] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		}
	})
	return consoleAssets
}

// serveConsole serves the console: its files by name, and index.html for
// /admin/ itself. It holds no data: that comes from the API with the token.
func (s *Server) serveConsole(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeAdminError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "", "the console only reads")
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/admin/")
	if name == "" {
		name = "index.html"
	}
	a, ok := loadConsole()[name]
	if !ok {
		writeAdminError(w, r, http.StatusNotFound, "not_found", "", "no such console file")
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("ETag", a.etag)
	// Revalidate every time (no-store is set for all of /admin/): the
	// files are small and a new release must show at once.
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(a.body)
}
