package identity

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestKeyring_Cookie(t *testing.T) {
	k := MustKeyring(t, "k1")
	c := k.Cookie(testSite, testID)

	if err := c.Valid(); err != nil {
		t.Fatalf("invalid cookie: %v", err)
	}
	if got, want := c.Name, "parley_vid"; got != want {
		t.Errorf("Name = %q, want %q", got, want)
	}
	if got, want := c.Value, k.Sign(testSite, testID); got != want {
		t.Errorf("Value = %q, want %q", got, want)
	}
	if got, want := c.MaxAge, 400*24*60*60; got != want {
		t.Errorf("MaxAge = %d, want %d", got, want)
	}

	s := c.String()
	if got, want := s, "parley_vid="+c.Value+";"; !strings.HasPrefix(got, want) {
		t.Errorf("String() = %q, want prefix %q (value unquoted)", got, want)
	}
	for _, attr := range []string{"Path=/", "Max-Age=34560000", "HttpOnly", "Secure", "SameSite=None", "Partitioned"} {
		t.Run(attr, func(t *testing.T) {
			if !strings.Contains(s, "; "+attr) {
				t.Errorf("String() = %q, want it to contain %q", s, attr)
			}
		})
	}
}

func TestKeyring_VisitorFromRequest(t *testing.T) {
	k := MustKeyring(t, "k1")
	forger, err := NewKeyring("k1", map[string][]byte{"k1": testSecret('x')})
	if err != nil {
		t.Fatal(err)
	}
	valid := k.Sign(testSite, testID)

	for _, tt := range []struct {
		name    string
		cookies []*http.Cookie
		wantID  string
		wantOK  bool
	}{
		{"Valid", []*http.Cookie{k.Cookie(testSite, testID)}, testID, true},
		{"None", nil, "", false},
		{"Forged", []*http.Cookie{forger.Cookie(testSite, testID)}, "", false},
		{"OtherSite", []*http.Cookie{k.Cookie(otherSite, testID)}, "", false},
		{"Garbage", []*http.Cookie{{Name: CookieName, Value: "garbage"}}, "", false},
		{"Empty", []*http.Cookie{{Name: CookieName, Value: ""}}, "", false},
		{"OtherName", []*http.Cookie{{Name: "vid", Value: valid}}, "", false},
		{"ForgedThenValid", []*http.Cookie{forger.Cookie(testSite, otherID), k.Cookie(testSite, testID)}, testID, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/v1/ws?site="+testSite, nil)
			for _, c := range tt.cookies {
				r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
			}
			id, ok := k.VisitorFromRequest(r, testSite)
			if got, want := id, tt.wantID; got != want {
				t.Errorf("id = %q, want %q", got, want)
			}
			if got, want := ok, tt.wantOK; got != want {
				t.Errorf("ok = %v, want %v", got, want)
			}
		})
	}
}
