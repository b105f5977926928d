package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"

	"github.com/parley-chat/parley/js"
)

// asset is an embedded file served with its checksum as ETag, gzipped for
// clients that accept it.
type asset struct {
	body, gz []byte
	etag     string
}

var (
	widgetOnce  sync.Once
	widgetAsset asset
)

func loadAsset(name string) asset {
	b, err := js.FS.ReadFile(name)
	if err != nil {
		panic("server: embedded asset missing: " + name)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	sum := sha256.Sum256(b)
	return asset{body: b, gz: gz.Bytes(), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// serveWidgetJS serves the embeddable script: gzip, ETag, and a short
// cache lifetime so a new release reaches sites within minutes.
func (s *Server) serveWidgetJS(w http.ResponseWriter, r *http.Request) {
	widgetOnce.Do(func() { widgetAsset = loadAsset("widget.js") })
	s.widgetLoads.Add(1)
	a := widgetAsset
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.TrimSpace(q) != "q=0" {
			return true
		}
	}
	return false
}
