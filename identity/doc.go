// Package identity names a widget visitor and proves, on later visits, that
// the name is theirs.
//
// A visitor ID is a ULID (NewVisitorID). The server hands the visitor a token
// that binds the ID to one site with an HMAC-SHA256 signature:
//
//	v1.<kid>.<visitorID>.<base64url-nopad(HMAC-SHA256(key, "v1|<kid>|<site>|<visitorID>"))>
//
// The token travels in the parley_vid cookie (Keyring.Cookie) and in the
// widget's own storage, so a browser that blocks third-party cookies keeps its
// visitor too. A token is a credential: it never belongs in a URL or a log.
//
// Keys live in a Keyring, named by key ID. One key signs; every key verifies,
// so keys rotate without logging anyone out: put a new "kid hex-secret" line
// at the top of the key file, keep the old line below it until tokens signed
// with it no longer matter, then drop it.
//
// ParseDevice reduces a User-Agent header to the OS, browser, and
// mobile and bot flags the admin console shows.
package identity
