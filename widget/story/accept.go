package story

import (
	"regexp"
	"strings"

	"github.com/parley-chat/parley/widget/conffile"
)

// acceptPattern is what an upload accept list may hold: an extension
// (".pdf"), a MIME type ("application/pdf"), a wildcard of one of the
// registered top-level types ("image/*") or "*/*".
var acceptPattern = regexp.MustCompile(`(?i)^(\.[a-z0-9]+|\*/\*|(application|audio|font|image|message|model|multipart|text|video)/([a-z0-9][a-z0-9!#$&^_.+-]*|\*))$`)

// commonAccept are the patterns a near-miss is compared with.
var commonAccept = []string{"image/*", "audio/*", "video/*", "text/*", "application/pdf", "text/plain", "text/csv", ".pdf", ".png", ".jpg", ".docx", ".xlsx", ".zip"}

// AcceptProblem says what is wrong with an accept pattern, with the
// pattern probably meant, or "" when it is one uploads are checked
// against. A wrong pattern matches no file, so every upload it should
// let through is refused.
func AcceptProblem(pattern string) string {
	p := strings.TrimSpace(pattern)
	if acceptPattern.MatchString(p) {
		return ""
	}
	msg := "matches no file: want a MIME type (application/pdf), a wildcard (image/*) or an extension (.pdf)"
	word := strings.TrimSuffix(strings.ToLower(p), "s")
	switch {
	case acceptPattern.MatchString(word + "/*"):
		return msg + ` (did you mean "` + word + `/*"?)`
	case acceptPattern.MatchString("." + p):
		return msg + ` (did you mean ".` + p + `"?)`
	}
	return msg + conffile.DidYouMean(p, commonAccept)
}
