package fileupload

import (
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/parley-chat/parley/storage"
)

var errNoFileFound = &Error{http.StatusNotFound, "not_found", "no such file"}

// ServeVisitorFile serves GET /v1/files/{id}?site=SITE: a visitor's own
// file, for a thumbnail in the widget. The visitor proves who it is as for
// uploads (401 otherwise); a file of another visitor or site is answered
// 404, as if it did not exist.
func (h *Handler) ServeVisitorFile(w http.ResponseWriter, r *http.Request) {
	site := r.URL.Query().Get("site")
	ids := h.visitors(r, site)
	if len(ids) == 0 {
		h.fail(w, r, errUnauthorized)
		return
	}
	f, err := h.file(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if f.Site != site || !slices.Contains(ids, f.VisitorID) {
		h.fail(w, r, errNoFileFound)
		return
	}
	h.serve(w, r, f)
}

// ServeAdminFile serves GET /admin/api/files/{id}; the caller checks the
// admin's credentials.
func (h *Handler) ServeAdminFile(w http.ResponseWriter, r *http.Request) {
	f, err := h.file(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cross-Origin-Resource-Policy", "same-origin")
	h.serve(w, r, f)
}

// file returns the record the path's {id} names.
func (h *Handler) file(r *http.Request) (*storage.File, error) {
	id := r.PathValue("id")
	if !storage.ValidID(id) {
		return nil, errNoFileFound
	}
	f, err := h.cfg.Files.File(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNoFileFound
	}
	return f, err
}

// serve streams f with http.ServeContent (Range, If-Range, HEAD, and
// If-None-Match against the SHA-256 ETag) as an attachment that no
// browser renders: a download disposition, no sniffing, a sandboxing CSP,
// and active types (HTML, SVG, XML) served as opaque bytes.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, f *storage.File) {
	rc, err := h.cfg.Files.Open(r.Context(), f)
	if errors.Is(err, storage.ErrNotFound) {
		err = errNoFileFound
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer rc.Close()
	hd := w.Header()
	hd.Set("Content-Type", serveAs(f.Type))
	hd.Set("Content-Disposition", Disposition(f.Name))
	hd.Set("ETag", `"`+f.SHA256+`"`)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	hd.Set("Cache-Control", "private, no-cache")
	http.ServeContent(w, r, "", f.UploadedAt, rc)
}

// Disposition is the Content-Disposition of a download named name: always
// an attachment, with an ASCII fallback filename (other characters as
// '_') for old clients and the exact UTF-8 name in filename* (RFC 6266,
// RFC 8187), which current browsers prefer.
func Disposition(name string) string {
	fallback := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			return '_'
		}
		return r
	}, name)
	v := mime.FormatMediaType("attachment", map[string]string{"filename": fallback})
	if v == "" {
		v = "attachment"
	}
	return v + "; filename*=UTF-8''" + encodeRFC8187(name)
}

// encodeRFC8187 percent-encodes s as an RFC 8187 value: attr-char stays,
// every other byte becomes %XX.
func encodeRFC8187(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		const hex = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
