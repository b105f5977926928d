package identity

import (
	"strings"
	"unicode"

	"github.com/mssola/useragent"
)

// maxUserAgent caps how much of a User-Agent header ParseDevice reads; real
// ones are a few hundred bytes, and the parser's work grows with the input.
const maxUserAgent = 512

// unknown names an OS or browser the User-Agent does not reveal.
const unknown = "Unknown"

// Device is what the User-Agent says about the visitor's software.
type Device struct {
	// OS is the operating system name plus its version where known:
	// "Windows 10", "macOS 10.15.7", "Android 14", "iOS 17.1",
	// "Linux x86_64", or "Unknown".
	OS string `json:"os"`
	// Browser is the browser name plus its major version only:
	// "Chrome 120", "Firefox 121", "Safari 17", or "Unknown".
	Browser string `json:"browser"`
	// Mobile reports a phone or tablet.
	Mobile bool `json:"mobile"`
	// Bot reports a crawler, such as Googlebot.
	Bot bool `json:"bot"`
}

// ParseDevice parses a User-Agent header with github.com/mssola/useragent,
// reading at most its first 512 bytes. An empty or unreadable User-Agent
// gives Device{OS: "Unknown", Browser: "Unknown"}.
func ParseDevice(userAgent string) (d Device) {
	d = Device{OS: unknown, Browser: unknown}
	if len(userAgent) > maxUserAgent {
		userAgent = userAgent[:maxUserAgent]
	}
	userAgent = strings.TrimSpace(userAgent)
	if userAgent == "" {
		return d
	}
	// The header is anyone's to write; a parser bug on odd input must
	// not take down the connection that sent it.
	defer func() {
		if recover() != nil {
			d = Device{OS: unknown, Browser: unknown}
		}
	}()
	ua := useragent.New(userAgent)
	d.OS = or(clean(osName(ua)), unknown)
	name, version := ua.Browser()
	d.Browser = or(clean(strings.TrimSpace(name+" "+major(version))), unknown)
	d.Mobile = ua.Mobile()
	d.Bot = ua.Bot()
	return d
}

// osName renders the OS the parser found in the style of Device.OS.
func osName(ua *useragent.UserAgent) string {
	raw := ua.OS()
	info := ua.OSInfo() // Version has '_' turned into '.'
	switch {
	case strings.Contains(raw, "like Mac OS X"):
		// "CPU iPhone OS 17_1 like Mac OS X", "CPU OS 17_1 like Mac OS X"
		name := "iOS"
		if ua.Platform() == "iPad" {
			name = "iPadOS"
		}
		return strings.TrimSpace(name + " " + info.Version)
	case strings.Contains(raw, "Mac OS X"):
		// "Intel Mac OS X 10_15_7"
		return strings.TrimSpace("macOS " + info.Version)
	case strings.HasPrefix(raw, "CrOS"):
		// "CrOS x86_64 14541.0.0"
		return "ChromeOS"
	}
	// Already readable: "Windows 10", "Android 14", "Linux x86_64".
	return raw
}

// major returns the major part of a dotted version: "120.0.6099.71" → "120".
func major(version string) string {
	v, _, _ := strings.Cut(version, ".")
	return v
}

// clean makes s safe to show and log: valid UTF-8, printable, and trimmed.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// or returns s, or def if s is empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// String renders the device as "Chrome 120 on Windows 10".
func (d Device) String() string {
	return or(d.Browser, unknown) + " on " + or(d.OS, unknown)
}
