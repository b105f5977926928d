package storage

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Hidden reports whether r is a character no stored text keeps: a control
// character (C0 and C1: NUL, ESC, …), a line or paragraph separator,
// bidirectional formatting (marks, embeddings, overrides such as U+202E,
// isolates U+2066–U+2069) or an invisible one (zero-width space, word
// joiner, byte-order mark, soft hyphen). Such characters change how the
// text around them shows in the console, a spreadsheet or a terminal
// ("gpj.exe" shown as "exe.jpg") and carry nothing a reader needs. The
// zero-width joiner (U+200D) is kept: emoji sequences need it.
func Hidden(r rune) bool {
	switch {
	case unicode.IsControl(r), r == '\u2028', r == '\u2029':
		return true
	case r == '\u061c', r == '\u200e', r == '\u200f', // bidi marks
		'\u202a' <= r && r <= '\u202e', // embeddings and overrides
		'\u2066' <= r && r <= '\u2069': // isolates
		return true
	case r == '\u200b', r == '\u2060', r == '\ufeff', r == '\u00ad': // zero-width, soft hyphen
		return true
	}
	return false
}

// CleanText returns s as it may be stored and shown: valid UTF-8 (invalid
// bytes become U+FFFD) without Hidden characters, except that newlines and
// tabs stay. A carriage return goes, so "\r\n" becomes "\n".
// CleanText(CleanText(s)) == CleanText(s).
func CleanText(s string) string {
	if isClean(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && Hidden(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// PlainName reports whether s may name something as it is: valid UTF-8
// without a Hidden character, not even a newline or a tab. IDs, names and
// keys that visitors send or read are checked with it.
func PlainName(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, Hidden) < 0
}

// isClean reports whether CleanText would return s unchanged, so clean text
// (nearly all of it) is not copied.
func isClean(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r != '\n' && r != '\t' && Hidden(r) {
			return false
		}
	}
	return true
}
