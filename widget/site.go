package widget

import (
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/parley-chat/parley/widget/story"
)

// Site is one website that embeds the widget.
type Site struct {
	ID   string
	Name string
	// Origins are the page origins allowed to open the socket:
	// "https://example.org", "https://*.example.org", "http://localhost:*".
	Origins []string
	Story   *story.Story
	// SessionTimeout is how long a session may idle and still be resumed.
	SessionTimeout time.Duration
	// Input tunes input validation (phone region, text length).
	Input story.InputOptions
	// UploadMaxBytes caps uploads where the story's block names no limit.
	UploadMaxBytes int64
	// FreeUploads lets visitors send files at any time, not only when asked;
	// FreeUploadAccept is what they may send then.
	FreeUploads      bool
	FreeUploadAccept []string
}

// AllowsOrigin reports whether a page at origin may talk to the site.
// The scheme must match exactly; the host (with port) is matched with
// path.Match, so '*' stands for one DNS label or a port. A pattern ending
// in ":*" also allows the default port.
func (s *Site) AllowsOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || u.User != nil {
		return false
	}
	host := strings.ToLower(u.Host)
	for _, p := range s.Origins {
		scheme, hostPattern, ok := strings.Cut(strings.ToLower(p), "://")
		if !ok || scheme != u.Scheme {
			continue
		}
		if m, _ := path.Match(hostPattern, host); m {
			return true
		}
		if base, ok := strings.CutSuffix(hostPattern, ":*"); ok && u.Port() == "" {
			if m, _ := path.Match(base, host); m {
				return true
			}
		}
	}
	return false
}
