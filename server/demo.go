package server

import (
	"html"
	"net"
	"net/http"
	"strings"

	"github.com/parley-chat/parley/js"
	"github.com/parley-chat/parley/widget"
)

// demoCSP lets the demo page run the widget from this origin and nothing
// else, and keeps it out of frames.
const demoCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// builtinDemo returns the site the demo page embeds: the built-in demo
// site when it is what Parley serves (no config file), else nil: with a
// config of its own a deployment has no demo page.
func builtinDemo(cfg Config) *widget.Site {
	if cfg.ConfigFile == "" && len(cfg.Sites) == 1 && cfg.Sites[0].ID == DemoSite().ID {
		return cfg.Sites[0]
	}
	return nil
}

// listenOrigin is the http origin of a listen address for the demo page's
// embed snippet: "localhost" for an address that listens on every
// interface.
func listenOrigin(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// serveDemoPage serves the demo host page: a page that embeds the widget
// for the demo site, its script from this origin by a relative URL, and
// an embed snippet naming the listen address. Nothing of the request (its
// Host above all) goes into the page.
func (s *Server) serveDemoPage(w http.ResponseWriter, r *http.Request) {
	b, err := js.FS.ReadFile("demo.html")
	if err != nil {
		s.errs.Error(w, r, http.StatusInternalServerError, "internal", "demo page missing")
		return
	}
	origin := listenOrigin(s.cfg.Addr)
	if o := s.origin.Load(); o != nil {
		origin = *o
	}
	page := strings.NewReplacer("{{PARLEY_ORIGIN}}", html.EscapeString(origin), "{{SITE}}", html.EscapeString(s.demo.ID)).Replace(string(b))
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", demoCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-cache")
	w.Write([]byte(page))
}
