package fileupload

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/parley-chat/parley/storage"
)

func TestCleanFilename(t *testing.T) {
	long := strings.Repeat("a", 10<<10)
	for _, tt := range []struct{ in, want string }{
		{"photo.png", "photo.png"},
		{"../../etc/passwd", "passwd"},
		{`..\..\windows\system32\cmd.exe`, "cmd.exe"},
		{`C:\Users\ann\Desktop\CV 2026.pdf`, "CV 2026.pdf"},
		{"a\x00.png", "a.png"},
		{"a\r\nb\t c.png", "a b c.png"},
		{".jpg.php", "jpg.php"},
		{".htaccess", "htaccess"},
		{"...", "file"},
		{"", "file"},
		{"dir/", "file"},
		{"  spaced   out  .png ", "spaced out .png"},
		{"trailing.png. . ", "trailing.png"},
		{"invoice\u202egnp.exe", "invoicegnp.exe"},
		{"\u2066evil\u2069\u200f.pdf", "evil.pdf"},
		{"zero\u200bwidth\ufeff.txt", "zerowidth.txt"},
		{"bad\xff\xfeutf8.png", "bad_utf8.png"},
		{"Lebenslauf Jürgen Müller.pdf", "Lebenslauf Jürgen Müller.pdf"},
		{"履歴書.pdf", "履歴書.pdf"},
		{"👩‍💻 notes.txt", "👩‍💻 notes.txt"},
		{long + ".png", long[:MaxNameBytes-4] + ".png"},
		{long, long[:MaxNameBytes]},
		{strings.Repeat("é", 300) + ".pdf", strings.Repeat("é", (MaxNameBytes-4)/2) + ".pdf"},
		{"x." + long, ("x." + long)[:MaxNameBytes]},
	} {
		got := CleanFilename(tt.in)
		if got != tt.want {
			t.Errorf("CleanFilename(%.40q) = %.60q, want %.60q", tt.in, got, tt.want)
		}
	}
}

// checkCleanName states what every cleaned name satisfies.
func checkCleanName(t *testing.T, in, got string) {
	t.Helper()
	switch {
	case got == "":
		t.Fatalf("CleanFilename(%q) is empty", in)
	case len(got) > MaxNameBytes:
		t.Fatalf("CleanFilename(%q) is %d bytes", in, len(got))
	case !utf8.ValidString(got):
		t.Fatalf("CleanFilename(%q) = %q is not UTF-8", in, got)
	case strings.ContainsAny(got, `/\`):
		t.Fatalf("CleanFilename(%q) = %q has a path separator", in, got)
	case strings.HasPrefix(got, ".") || strings.HasPrefix(got, " ") || strings.HasSuffix(got, ".") || strings.HasSuffix(got, " "):
		t.Fatalf("CleanFilename(%q) = %q starts or ends with a dot or space", in, got)
	case strings.Contains(got, "  "):
		t.Fatalf("CleanFilename(%q) = %q has a run of spaces", in, got)
	}
	for _, r := range got {
		if storage.Hidden(r) || (unicode.IsSpace(r) && r != ' ') {
			t.Fatalf("CleanFilename(%q) = %q keeps %U", in, got, r)
		}
	}
	if again := CleanFilename(got); again != got {
		t.Fatalf("CleanFilename is not idempotent: %q -> %q -> %q", in, got, again)
	}
}

func FuzzCleanFilename(f *testing.F) {
	for _, s := range []string{
		"photo.png", "../../etc/passwd", `..\..\x.exe`, "a\x00.png", ".jpg.php", "invoice\u202egnp.exe",
		strings.Repeat("a", 10<<10) + ".png", strings.Repeat("é", 300), "\xff\xfe", " . . ", "x.\u202e" + strings.Repeat("b", 300),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkCleanName(t, in, CleanFilename(in))
	})
}
