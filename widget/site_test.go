package widget_test

import (
	"testing"

	"github.com/parley-chat/parley/widget"
)

func TestSite_AllowsOrigin(t *testing.T) {
	s := &widget.Site{Origins: []string{"https://example.org", "https://*.shop.example", "http://localhost:*"}}
	tests := []struct {
		origin string
		want   bool
	}{
		{"https://example.org", true},
		{"http://example.org", false},
		{"https://example.org.evil.com", false},
		{"https://evil-example.org", false},
		{"https://a.shop.example", true},
		{"https://a.b.shop.example", false},
		{"https://shop.example", false},
		{"http://localhost:8080", true},
		{"http://localhost", true},
		{"http://localhost.evil.com:80", false},
		{"", false},
		{"null", false},
		{"https://example.org/path", false},
		{"https://user@example.org", false},
	}
	for _, tt := range tests {
		if got := s.AllowsOrigin(tt.origin); got != tt.want {
			t.Errorf("AllowsOrigin(%q) = %v, want %v", tt.origin, got, tt.want)
		}
	}
}
