package admin

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/parley-chat/parley/fileupload"
	"github.com/parley-chat/parley/storage"
)

// eraseUser answers DELETE /admin/api/users/{id}: the visitor and all its
// data go, as the retention sweep erases them. It answers 204 whether or
// not the visitor existed, so a retried request succeeds.
func (a *Admin) eraseUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !storage.ValidID(id) {
		a.errs.Error(w, r, http.StatusBadRequest, "invalid_parameter", "id is not a visitor ID")
		return
	}
	// An erase runs to its end even if the client goes away.
	ctx := context.WithoutCancel(r.Context())
	res, err := a.store.EraseVisitor(ctx, id)
	if err != nil {
		a.errs.Internal(w, r, fmt.Errorf("admin: erase visitor %s: %w", id, err), "the visitor could not be erased completely; try again")
		return
	}
	// The erase's fence closed the visitor's open sockets (the gateway
	// logs how many), so the widget starts a new, empty conversation.
	a.log.Info("visitor erased", "visitor", id, "existed", res.Visitor, "sessions", res.Sessions,
		"messages", res.Messages, "files", res.Files, "keys", res.Keys)
	w.WriteHeader(http.StatusNoContent)
}

// exportUser answers GET /admin/api/users/{id}/export with everything
// recorded of the visitor as one JSON document (storage.WriteExport), its
// files as admin download links; with ?format=zip, a ZIP holding that
// document as visitor.json and the files themselves under files/.
func (a *Admin) exportUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !storage.ValidID(id) {
		a.errs.Error(w, r, http.StatusBadRequest, "invalid_parameter", "id is not a visitor ID")
		return
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "zip" {
		a.errs.Error(w, r, http.StatusBadRequest, "invalid_parameter", "format must be json or zip")
		return
	}
	if _, err := a.store.Visitor(r.Context(), id); isNotFound(err) {
		a.errs.Error(w, r, http.StatusNotFound, "not_found", "no such visitor")
		return
	} else if err != nil {
		a.errs.Internal(w, r, fmt.Errorf("admin: export visitor %s: %w", id, err), "the visitor could not be read")
		return
	}
	now := a.now()
	link := func(f *storage.File) string { return "/admin/api/files/" + f.ID }
	name := "parley-visitor-" + id
	if format == "zip" {
		a.exportZip(w, r, id, name)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.json"`)
	if err := a.store.WriteExport(r.Context(), w, id, now, link); err != nil {
		// The answer has begun: cut it, so the client sees it incomplete.
		a.log.Error("export visitor failed", "visitor", id, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// exportZip writes the ZIP form of a visitor export.
func (a *Admin) exportZip(w http.ResponseWriter, r *http.Request, id, name string) {
	ctx := r.Context()
	var doc bytes.Buffer
	if err := a.store.WriteExport(ctx, &doc, id, a.now(), zipPath); err != nil {
		a.errs.Internal(w, r, fmt.Errorf("admin: export visitor %s: %w", id, err), "the visitor could not be exported")
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
		recs, err := a.store.VisitorFiles(ctx, id)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			rc, err := a.files.Open(ctx, rec)
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
		a.log.Error("export visitor failed", "visitor", id, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// zipPath is where a ZIP export holds a file, and what its JSON links to.
func zipPath(f *storage.File) string {
	return "files/" + f.ID + "/" + fileupload.CleanFilename(f.Name)
}
