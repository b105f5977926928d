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
	// HandoverTimeout is how long a story's handover block waits for a
	// person before the story goes on at the block's next (default
	// DefaultHandoverTimeout).
	HandoverTimeout time.Duration
	// Input tunes input validation (phone region, text length).
	Input story.InputOptions
	// UploadMaxBytes caps uploads where the story's block names no limit.
	UploadMaxBytes int64
	// FreeUploads lets visitors send files at any time, not only when asked;
	// FreeUploadAccept is what they may send then.
	FreeUploads      bool
	FreeUploadAccept []string
	// IdentitySecret signs the host site's user IDs (identify.go): its
	// backend computes HMAC-SHA256 of a user ID with it. Empty: identify
	// is off.
	IdentitySecret string
	// SentimentOff stops scoring the tone of what visitors type
	// (widget/sentiment): for a site whose visitors write in a language
	// the model does not read, or that wants no such analysis.
	SentimentOff bool
}

// DefaultHandoverTimeout is a site's HandoverTimeout when it sets none.
const DefaultHandoverTimeout = 3 * time.Minute

// handoverTimeout is the site's, or the default.
func (s *Site) handoverTimeout() time.Duration {
	if s.HandoverTimeout > 0 {
		return s.HandoverTimeout
	}
	return DefaultHandoverTimeout
}

// AllowsOrigin reports whether a page at origin may talk to the site.
// The scheme must match exactly; in the host, '*' stands for one DNS label
// ("https://*.example.org" allows shop.example.org, not a.b.example.org);
// a port of '*' allows any port or none ("http://localhost:*").
func (s *Site) AllowsOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || u.User != nil || u.RawQuery != "" {
		return false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	for _, p := range s.Origins {
		scheme, hostPattern, ok := strings.Cut(strings.ToLower(p), "://")
		if !ok || scheme != u.Scheme {
			continue
		}
		hp, pp := hostPattern, ""
		if i := strings.LastIndexByte(hostPattern, ':'); i >= 0 && !strings.Contains(hostPattern[i:], "]") {
			hp, pp = hostPattern[:i], hostPattern[i+1:]
		}
		if (pp == "*" || pp == port) && labelsMatch(hp, host) {
			return true
		}
	}
	return false
}

// labelsMatch matches a host against a pattern label by label.
func labelsMatch(pattern, host string) bool {
	pl, hl := strings.Split(pattern, "."), strings.Split(host, ".")
	if len(pl) != len(hl) {
		return false
	}
	for i := range pl {
		if m, err := path.Match(pl[i], hl[i]); err != nil || !m {
			return false
		}
	}
	return true
}
