package server

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/parley-chat/parley/fileupload"
	"github.com/parley-chat/parley/storage"
)

// backupFiles are the files of the data directory a backup carries beside
// the store: the key that signs visitor tokens, so visitors keep their
// identity across a restore. The admin token is not carried: a restored
// server makes a new one (or takes PARLEY_ADMIN_TOKEN).
var backupFiles = []string{"visitor.key"}

// lifecycleRoutes registers the privacy requests (erase, export) and the
// online backup, behind the admin token.
func (s *Server) lifecycleRoutes() {
	api := http.NewServeMux()
	api.HandleFunc("DELETE /admin/api/users/{id}", s.eraseUser)
	api.HandleFunc("GET /admin/api/users/{id}/export", s.exportUser)
	api.HandleFunc("GET /admin/api/backup", s.serveBackup)
	h := s.requireAdmin(api)
	s.mux.Handle("DELETE /admin/api/users/{id}", h)
	s.mux.Handle("GET /admin/api/users/{id}/export", h)
	s.mux.Handle("GET /admin/api/backup", h)
}

// eraseUser answers DELETE /admin/api/users/{id}: the visitor and all its
// data go, as the retention sweep erases them. It answers 204 whether or
// not the visitor existed, so a retried request succeeds.
func (s *Server) eraseUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !storage.ValidID(id) {
		writeError(w, r, http.StatusBadRequest, "invalid_parameter", "id is not a visitor ID")
		return
	}
	// An erase runs to its end even if the client goes away.
	ctx := context.WithoutCancel(r.Context())
	res, err := s.Store.EraseVisitor(ctx, id)
	if err != nil {
		s.log.Error("erase visitor failed", "visitor", id, "err", err)
		writeError(w, r, http.StatusInternalServerError, "internal", "the visitor could not be erased completely; try again")
		return
	}
	// Its open sockets would fail every frame from now on: close them, and
	// the widget starts a new, empty conversation.
	dropped := s.Gateway.DropVisitor(id)
	s.log.Info("visitor erased", "visitor", id, "existed", res.Visitor, "sessions", res.Sessions,
		"messages", res.Messages, "files", res.Files, "keys", res.Keys, "socketsClosed", dropped)
	w.WriteHeader(http.StatusNoContent)
}

// exportUser answers GET /admin/api/users/{id}/export with everything
// recorded of the visitor as one JSON document (storage.WriteExport), its
// files as admin download links; with ?format=zip, a ZIP holding that
// document as visitor.json and the files themselves under files/.
func (s *Server) exportUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !storage.ValidID(id) {
		writeError(w, r, http.StatusBadRequest, "invalid_parameter", "id is not a visitor ID")
		return
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "zip" {
		writeError(w, r, http.StatusBadRequest, "invalid_parameter", "format must be json or zip")
		return
	}
	if _, err := s.Store.Visitor(r.Context(), id); isNotFound(err) {
		writeError(w, r, http.StatusNotFound, "not_found", "no such visitor")
		return
	} else if err != nil {
		writeError(w, r, http.StatusInternalServerError, "internal", "the visitor could not be read")
		return
	}
	now := s.cfg.Now()
	link := func(f *storage.File) string { return "/admin/api/files/" + f.ID }
	name := "parley-visitor-" + id
	if format == "zip" {
		s.exportZip(w, r, id, name)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.json"`)
	if err := s.Store.WriteExport(r.Context(), w, id, now, link); err != nil {
		// The answer has begun: cut it, so the client sees it incomplete.
		s.log.Error("export visitor failed", "visitor", id, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// exportZip writes the ZIP form of a visitor export.
func (s *Server) exportZip(w http.ResponseWriter, r *http.Request, id, name string) {
	ctx := r.Context()
	var doc bytes.Buffer
	if err := s.Store.WriteExport(ctx, &doc, id, s.cfg.Now(), zipPath); err != nil {
		s.log.Error("export visitor failed", "visitor", id, "err", err)
		writeError(w, r, http.StatusInternalServerError, "internal", "the visitor could not be exported")
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.zip"`)
	zw := zip.NewWriter(w)
	err := func() error {
		f, err := zw.Create("visitor.json")
		if err != nil {
			return err
		}
		if _, err := f.Write(doc.Bytes()); err != nil {
			return err
		}
		files := storage.NewFiles(s.Store)
		recs, err := s.Store.VisitorFiles(ctx, id)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			rc, err := files.Open(ctx, rec)
			if isNotFound(err) {
				continue // erased meanwhile
			}
			if err != nil {
				return err
			}
			zf, err := zw.CreateHeader(&zip.FileHeader{Name: zipPath(rec), Method: zip.Store, Modified: rec.UploadedAt})
			if err == nil {
				_, err = io.Copy(zf, rc)
			}
			rc.Close()
			if err != nil {
				return err
			}
		}
		return zw.Close()
	}()
	if err != nil {
		s.log.Error("export visitor failed", "visitor", id, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// zipPath is where a ZIP export holds a file, and what its JSON links to.
func zipPath(f *storage.File) string {
	return "files/" + f.ID + "/" + fileupload.CleanFilename(f.Name)
}

// serveBackup answers GET /admin/api/backup?since=N with a backup of the
// store taken while it serves (storage.Store.Backup): a full one, or with
// since the changes after that version. The backup ends with a trailer
// that proves it whole; if it fails half-way the answer is cut, and
// `parley backup` refuses the partial file. The header Parley-Backup-Since
// echoes since; the new version is in the trailer.
func (s *Server) serveBackup(w http.ResponseWriter, r *http.Request) {
	var since uint64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, r, http.StatusBadRequest, "invalid_parameter", "since must be a backup version (a whole number)")
			return
		}
		since = n
	}
	files, err := readBackupFiles(s.cfg.DataDir)
	if err != nil {
		s.log.Error("backup failed", "err", err)
		writeError(w, r, http.StatusInternalServerError, "internal", "the data directory's files could not be read")
		return
	}
	now := s.cfg.Now().UTC()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="parley-%s.backup"`, now.Format("20060102T150405Z")))
	h.Set("Parley-Backup-Since", strconv.FormatUint(since, 10))
	info, err := s.Store.Backup(w, storage.BackupHeader{Since: since, CreatedAt: now, Files: files})
	if err != nil {
		s.log.Error("backup failed", "since", since, "err", err)
		panic(http.ErrAbortHandler)
	}
	s.log.Info("backup", "since", since, "version", info.Version, "bytes", info.Bytes)
}

// readBackupFiles reads the data directory's files a backup carries.
func readBackupFiles(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, name := range backupFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		files[name] = b
	}
	return files, nil
}

// writeBackupFiles writes the files a backup carried into dir, only those
// of backupFiles, mode 0600.
func writeBackupFiles(dir string, files map[string][]byte) ([]string, error) {
	var wrote []string
	for _, name := range backupFiles {
		b, ok := files[name]
		if !ok {
			continue
		}
		if strings.ContainsAny(name, `/\`) {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return wrote, err
		}
		wrote = append(wrote, name)
	}
	return wrote, nil
}
