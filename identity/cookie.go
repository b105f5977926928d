package identity

import "net/http"

// CookieName is the visitor cookie's name.
const CookieName = "parley_vid"

// cookieMaxAge is 400 days, the longest lifetime browsers honour.
const cookieMaxAge = 400 * 24 * 60 * 60

// Cookie returns the visitor cookie for site: named parley_vid, holding
// k.Sign(site, visitorID), with Path "/", HttpOnly, Secure, SameSite=None,
// Partitioned, and a Max-Age of 400 days.
//
// The widget runs inside other sites' pages, so the cookie is third-party:
// SameSite=None lets it travel, which browsers allow only with Secure (they
// treat localhost as secure), and Partitioned (CHIPS) keeps it usable where
// unpartitioned third-party cookies are blocked.
func (k *Keyring) Cookie(site, visitorID string) *http.Cookie {
	return &http.Cookie{
		Name:        CookieName,
		Value:       k.Sign(site, visitorID),
		Path:        "/",
		MaxAge:      cookieMaxAge,
		HttpOnly:    true,
		Secure:      true,
		SameSite:    http.SameSiteNoneMode,
		Partitioned: true,
	}
}

// VisitorFromRequest returns the verified visitor ID from the request's
// parley_vid cookie for site, else ("", false). If the request carries
// several parley_vid cookies (a partitioned and an older unpartitioned one,
// say), the first that verifies wins.
func (k *Keyring) VisitorFromRequest(r *http.Request, site string) (string, bool) {
	for _, c := range r.CookiesNamed(CookieName) {
		if id, ok := k.Verify(site, c.Value); ok {
			return id, true
		}
	}
	return "", false
}
