package storage

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"hello", "hello"},
		{"line one\nline two\n\tindented", "line one\nline two\n\tindented"},
		{"windows\r\nline", "windows\nline"},
		{"nul\x00byte", "nulbyte"},
		{"\x1b[31mred\x1b[0m", "[31mred[0m"},
		{"bell\x07 del\x7f c1\u0085\u009b", "bell del c1"},
		{"invoice\u202egnp.exe", "invoicegnp.exe"},
		{"\u2066isolated\u2069 \u2067rtl\u2068", "isolated rtl"},
		{"marks\u200e\u200f\u061c", "marks"},
		{"zero\u200bwidth\ufeff soft\u00adhyphen", "zerowidth softhyphen"},
		{"sep\u2028line\u2029para", "seplinepara"},
		{"bad\xff\xfeutf8", "bad\ufffdutf8"},
		{"Jürgen 履歴書 👩‍💻", "Jürgen 履歴書 👩‍💻"},
		{"", ""},
	} {
		if got := CleanText(tt.in); got != tt.want {
			t.Errorf("CleanText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzCleanText checks that cleaned text is valid UTF-8 without hidden
// characters but newlines and tabs, keeps every other character, and that
// cleaning it again changes nothing.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"hi", "a\x00b", "\x1b[2J", "x\u202ey", "a\r\nb\tc", "\xff", "👩‍💻"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := CleanText(s)
		if !utf8.ValidString(got) {
			t.Fatalf("CleanText(%q) = %q is not UTF-8", s, got)
		}
		for _, r := range got {
			if r != '\n' && r != '\t' && Hidden(r) {
				t.Fatalf("CleanText(%q) = %q keeps %U", s, got, r)
			}
		}
		if again := CleanText(got); again != got {
			t.Fatalf("CleanText not idempotent: %q then %q", got, again)
		}
		var kept strings.Builder
		for _, r := range strings.ToValidUTF8(s, "\ufffd") {
			if r == '\n' || r == '\t' || !Hidden(r) {
				kept.WriteRune(r)
			}
		}
		if got != kept.String() {
			t.Fatalf("CleanText(%q) = %q, want %q", s, got, kept.String())
		}
	})
}
