package widget

import (
	"strings"

	"golang.org/x/text/language"
)

// maxAcceptLanguage bounds the Accept-Language header parsed: a browser
// sends a few dozen bytes; more is not a browser.
const maxAcceptLanguage = 512

// visitorLanguage returns the session's language and locale (seed 004's
// preferredLanguage and locale): the language from hello's lang, else from
// the handshake's Accept-Language (its first usable tag); the locale is
// that tag when it names a region, else the first Accept-Language tag of
// the same language that does, else the language alone. Both are lower
// case ("de", "de-ch"); "" when neither source names a language.
func visitorLanguage(hello, acceptLanguage string) (lang, locale string) {
	var accepted []language.Tag
	if len(acceptLanguage) <= maxAcceptLanguage {
		accepted, _, _ = language.ParseAcceptLanguage(acceptLanguage)
	}
	var tag language.Tag
	if t, err := language.Parse(hello); err == nil && hello != "" {
		tag = t
	} else {
		for _, t := range accepted {
			if base(t) != "" {
				tag = t
				break
			}
		}
	}
	lang = base(tag)
	if lang == "" {
		return "", ""
	}
	if r := region(tag); r != "" {
		return lang, lang + "-" + r
	}
	for _, t := range accepted {
		if base(t) == lang && region(t) != "" {
			return lang, lang + "-" + region(t)
		}
	}
	return lang, lang
}

// base is the tag's language as written; the codes for no language in
// particular (und, mul, zxx, mis: what "*" parses to) count as none.
func base(t language.Tag) string {
	b, conf := t.Base()
	if conf != language.Exact {
		return ""
	}
	switch s := strings.ToLower(b.String()); s {
	case "und", "mul", "zxx", "mis":
		return ""
	default:
		return s
	}
}

// region is the tag's region as written, without guessing one.

func region(t language.Tag) string {
	r, conf := t.Region()
	if conf != language.Exact {
		return ""
	}
	return strings.ToLower(r.String())
}
