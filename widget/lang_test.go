package widget

import (
	"strings"
	"testing"
)

func TestVisitorLanguage(t *testing.T) {
	tests := []struct {
		name, hello, accept string
		lang, locale        string
	}{
		{"HelloOnly", "de", "", "de", "de"},
		{"HelloWithRegion", "EN-gb", "", "en", "en-gb"},
		{"HelloWins", "en-US", "de-DE,de;q=0.9", "en", "en-us"},
		{"AcceptLanguage", "", "de-CH,de;q=0.9,en;q=0.8", "de", "de-ch"},
		{"AcceptByWeight", "", "en;q=0.5, fr-CA;q=0.9", "fr", "fr-ca"},
		{"RegionFromAccept", "de", "fr-CH, fr;q=0.9, de-AT;q=0.5", "de", "de-at"},
		{"Script", "zh-Hant-TW", "", "zh", "zh-tw"},
		{"NumericRegion", "es-419", "", "es", "es-419"},
		{"BadHelloFallsBack", "xx-garbage!!", "it-IT", "it", "it-it"},
		{"Wildcard", "", "*", "", ""},
		{"Undetermined", "und", "", "", ""},
		{"Nothing", "", "", "", ""},
		{"HeaderTooLong", "", strings.Repeat("de-DE,", 100), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lang, locale := visitorLanguage(tt.hello, tt.accept)
			if lang != tt.lang || locale != tt.locale {
				t.Errorf("visitorLanguage(%q, %q) = %q, %q; want %q, %q", tt.hello, tt.accept, lang, locale, tt.lang, tt.locale)
			}
		})
	}
}

// FuzzVisitorLanguage: any hello lang and header give a lower-case
// language of letters and a locale that starts with it, or nothing.
func FuzzVisitorLanguage(f *testing.F) {
	f.Add("de", "de-CH,de;q=0.9")
	f.Add("", "en-US,en;q=0.5,*;q=0.1")
	f.Add("x-private", "q=;;,")
	f.Fuzz(func(t *testing.T, hello, accept string) {
		lang, locale := visitorLanguage(hello, accept)
		if lang == "" {
			if locale != "" {
				t.Fatalf("locale %q without a language", locale)
			}
			return
		}
		if lang != strings.ToLower(lang) || len(lang) > 8 || strings.ContainsAny(lang, "-_ ") {
			t.Fatalf("lang %q", lang)
		}
		if locale != lang && !strings.HasPrefix(locale, lang+"-") {
			t.Fatalf("locale %q for lang %q", locale, lang)
		}
	})
}
