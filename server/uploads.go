package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/parley-chat/parley/fileupload"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
)

// uploads is the upload handler, wired to the gateway and the store.
func (s *Server) uploads() *fileupload.Handler {
	return fileupload.New(fileupload.Config{
		Sessions: gatewayUploads{s.Gateway},
		Records:  s.Store,
		Files:    s.files,
		Keys:     s.Keys,
		Limits:   s.cfg.UploadLimits,
		// The same client as for the gateway's per-IP cap.
		ClientAddr: s.clientKey,
		WriteError: s.errs.Fail,
		Logger:     s.log,
		Now:        s.cfg.Now,
	})
}

// siteCORS answers for the site named by ?site=: 404 for an unknown site,
// 403 for an Origin the site does not allow. An allowed Origin gets the
// CORS headers a credentialed XHR needs (the widget sends cookies and the
// X-Parley-Token header); a request with no Origin (not from a browser
// page, or same-origin) passes without them. A nil next answers the
// preflight (OPTIONS) for method.
func (s *Server) siteCORS(method string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		site := s.Gateway.Site(r.URL.Query().Get("site"))
		if site == nil {
			s.errs.Error(w, r, http.StatusNotFound, "not_found", "unknown site")
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			if !site.AllowsOrigin(origin) {
				s.errs.Error(w, r, http.StatusForbidden, "origin_not_allowed", "this site does not allow requests from "+origin)
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "Content-Disposition, ETag")
		}
		if next == nil {
			h.Set("Access-Control-Allow-Methods", method)
			h.Set("Access-Control-Allow-Headers", fileupload.TokenHeader)
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// gatewayUploads adapts the gateway to fileupload.Sessions, translating
// its "no file expected" error.
type gatewayUploads struct{ g *widget.Gateway }

func (a gatewayUploads) UploadRules(ctx context.Context, siteID, sessionID string) ([]string, int64, error) {
	accept, maxBytes, err := a.g.UploadRules(ctx, siteID, sessionID)
	if errors.Is(err, widget.ErrNoUpload) {
		err = fmt.Errorf("%w: %w", fileupload.ErrNoUpload, err)
	}
	return accept, maxBytes, err
}

func (a gatewayUploads) FileUploaded(ctx context.Context, siteID, sessionID string, f storage.FileRef) (storage.Message, error) {
	return a.g.FileUploaded(ctx, siteID, sessionID, f)
}
