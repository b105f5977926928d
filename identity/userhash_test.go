package identity_test

import (
	"strings"
	"testing"

	"github.com/parley-chat/parley/identity"
)

func TestVerifyUserHash(t *testing.T) {
	const secret = "s3cret-of-the-acme-site-0123456789"
	// Computed independently: printf 'user-42' | openssl dgst -sha256 -hmac "$secret"
	const want = "2886116adc3ef2e59306968dc025f5786c424360b37508ec9c3b047c5dea8f51"
	h := identity.UserHash(secret, "user-42")
	if h != want {
		t.Fatalf("hash %q, want %q", h, want)
	}
	tests := []struct {
		name, secret, user, hash string
		ok                       bool
	}{
		{"Good", secret, "user-42", h, true},
		{"UpperHex", secret, "user-42", strings.ToUpper(h), true},
		{"OtherUser", secret, "user-43", h, false},
		{"OtherSecret", "another-site-secret-0123456789abc", "user-42", h, false},
		{"NoSecret", "", "user-42", identity.UserHash("", "user-42"), false},
		{"Short", secret, "user-42", h[:63], false},
		{"NotHex", secret, "user-42", "zz" + h[2:], false},
		{"Empty", secret, "user-42", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := identity.VerifyUserHash(tt.secret, tt.user, tt.hash); got != tt.ok {
				t.Errorf("got %v, want %v", got, tt.ok)
			}
		})
	}
}

func FuzzVerifyUserHash(f *testing.F) {
	const secret = "fuzz-secret-0123456789abcdefghij"
	f.Add("user-42", identity.UserHash(secret, "user-42"))
	f.Add("", "")
	f.Add("ü", strings.Repeat("0", 64))
	f.Fuzz(func(t *testing.T, user, hash string) {
		ok := identity.VerifyUserHash(secret, user, hash)
		if ok != strings.EqualFold(hash, identity.UserHash(secret, user)) {
			t.Errorf("VerifyUserHash(%q, %q) = %v", user, hash, ok)
		}
	})
}
