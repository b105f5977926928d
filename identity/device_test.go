package identity

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseDevice(t *testing.T) {
	for _, tt := range []struct {
		name string
		ua   string
		want Device
	}{
		{
			"ChromeWindows10",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
			Device{OS: "Windows 10", Browser: "Chrome 120"},
		},
		{
			"EdgeWindows10",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
			Device{OS: "Windows 10", Browser: "Edge 120"},
		},
		{
			"SafariIPhone",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
			Device{OS: "iOS 17.1", Browser: "Safari 17", Mobile: true},
		},
		{
			"SafariIPad",
			"Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
			Device{OS: "iPadOS 17.1", Browser: "Safari 17", Mobile: true},
		},
		{
			"SafariMac",
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
			Device{OS: "macOS 10.15.7", Browser: "Safari 17"},
		},
		{
			"FirefoxMac",
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:121.0) Gecko/20100101 Firefox/121.0",
			Device{OS: "macOS 14.1", Browser: "Firefox 121"},
		},
		{
			"FirefoxLinux",
			"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
			Device{OS: "Linux x86_64", Browser: "Firefox 121"},
		},
		{
			"ChromeAndroid",
			"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
			Device{OS: "Android 14", Browser: "Chrome 120", Mobile: true},
		},
		{
			"ChromeOS",
			"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
			Device{OS: "ChromeOS", Browser: "Chrome 120"},
		},
		{
			"Googlebot",
			"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
			Device{OS: "Unknown", Browser: "Googlebot 2", Bot: true},
		},
		{
			"GooglebotSmartphone",
			"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
			Device{OS: "Unknown", Browser: "Googlebot 2", Mobile: true, Bot: true},
		},
		{"Empty", "", Device{OS: "Unknown", Browser: "Unknown"}},
		{"Blank", " \t ", Device{OS: "Unknown", Browser: "Unknown"}},
		{"Curl", "curl/8.4.0", Device{OS: "Unknown", Browser: "curl 8"}},
		{"ControlChars", "\x00\x01", Device{OS: "Unknown", Browser: "Unknown"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := ParseDevice(tt.ua), tt.want; got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}

	t.Run("LongInput", func(t *testing.T) {
		ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 " +
			strings.Repeat("X", 1<<20)
		if got, want := ParseDevice(ua), (Device{OS: "Windows 10", Browser: "Chrome 120"}); got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
}

func TestDevice_String(t *testing.T) {
	for _, tt := range []struct {
		name string
		d    Device
		want string
	}{
		{"Full", Device{OS: "Windows 10", Browser: "Chrome 120"}, "Chrome 120 on Windows 10"},
		{"Unknown", ParseDevice(""), "Unknown on Unknown"},
		{"Zero", Device{}, "Unknown on Unknown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDevice_JSON(t *testing.T) {
	b, err := json.Marshal(Device{OS: "Windows 10", Browser: "Chrome 120"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"os":"Windows 10","browser":"Chrome 120","mobile":false,"bot":false}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func FuzzParseDevice(f *testing.F) {
	for _, ua := range []string{
		"",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Opera/9.80 (Windows NT 6.1; U; en) Presto/2.10.229 Version/11.62",
		"Dalvik/2.1.0 (Linux; U; Android 9; Pixel Build/PQ3A)",
		"Mozilla/5.0 (",
		"Mozilla/5.0 ()",
		"Opera/",
		"((((",
		";;;",
	} {
		f.Add(ua)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		d := ParseDevice(ua)
		for _, s := range []string{d.OS, d.Browser} {
			if s == "" || !utf8.ValidString(s) {
				t.Fatalf("ParseDevice(%q) = %+v: empty or invalid field", ua, d)
			}
		}
	})
}
