package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/parley-chat/parley/server/console"
)

// consoleFile is one of the console's files with its checksum as ETag.
type consoleFile struct {
	body []byte
	etag string
}

var (
	consoleOnce  sync.Once
	consoleFiles map[string]consoleFile
)

// loadConsole reads the console's embedded files once, with checksums.
func loadConsole() map[string]consoleFile {
	consoleOnce.Do(func() {
		consoleFiles = map[string]consoleFile{}
		// Every embedded file: a page in a file of its own (console.addView)
		// needs only its go:embed entry.
		entries, err := fs.ReadDir(console.FS, ".")
		if err != nil {
			panic("admin: embedded console: " + err.Error())
		}
		for _, e := range entries {
			name := e.Name()
			b, err := console.FS.ReadFile(name)
			if err != nil {
				panic("admin: embedded console file missing: " + name)
			}
			sum := sha256.Sum256(b)
			consoleFiles[name] = consoleFile{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		}
	})
	return consoleFiles
}

// serveConsole serves the console: its files by name, and index.html for
// /admin/ itself. It holds no data: that comes from the API with the token.
func (a *Admin) serveConsole(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		a.errs.Error(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "the console only reads")
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/admin/")
	if name == "" {
		name = "index.html"
	}
	f, ok := loadConsole()[name]
	if !ok {
		a.errs.Error(w, r, http.StatusNotFound, "not_found", "no such console file")
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("ETag", f.etag)
	// Revalidate every time (no-store is set for all of /admin/): the
	// files are small and a new release must show at once.
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(f.body)
}
