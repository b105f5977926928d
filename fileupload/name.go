package fileupload

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parley-chat/parley/storage"
)

// MaxNameBytes caps a cleaned file name, in bytes of UTF-8.
const MaxNameBytes = 255

// maxExtBytes is the longest extension kept when a long name is cut.
const maxExtBytes = 16

// defaultName stands in for a name that cleans to nothing.
const defaultName = "file"

// CleanFilename turns the name a client sent into one fit to show and to
// offer as a download name. It is never used as a path. It keeps the last
// segment after any '/' or '\', turns invalid UTF-8 into '_', collapses
// white space (tabs and line breaks too) into single spaces, drops other
// control characters, bidirectional overrides and isolates (which can show
// "gpj.exe" as "exe.jpg") and zero-width marks, trims leading dots and
// spaces (no hidden files) and trailing ones, and cuts the name to
// MaxNameBytes keeping its extension. It never returns "": an empty result
// becomes "file". CleanFilename(CleanFilename(s)) == CleanFilename(s).
func CleanFilename(raw string) string {
	s := strings.ToValidUTF8(raw, "_")
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	var b strings.Builder
	b.Grow(min(len(s), MaxNameBytes*2))
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r): // tabs and line breaks too
			space = true
			continue
		case storage.Hidden(r):
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	s = trimName(b.String())
	if len(s) > MaxNameBytes {
		s = cutName(s)
	}
	if s == "" {
		return defaultName
	}
	return s
}

// trimName drops leading and trailing dots and spaces.
func trimName(s string) string { return strings.Trim(s, ". ") }

// cutName shortens s to MaxNameBytes, cutting the stem at a rune boundary
// and keeping a short extension.
func cutName(s string) string {
	ext := path.Ext(s)
	if len(ext) > maxExtBytes || len(ext) == len(s) {
		ext = ""
	}
	stem := s[:len(s)-len(ext)]
	limit := MaxNameBytes - len(ext)
	for len(stem) > limit {
		_, size := utf8.DecodeLastRuneInString(stem)
		stem = stem[:len(stem)-size]
	}
	return trimName(strings.TrimRight(stem, ". ") + ext)
}
