package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// UserHash is the identity hash of a host site's user ID: HMAC-SHA256 of
// the ID with the site's identity secret, in lower-case hex. The site's
// backend computes it and hands it to the page with the ID, so the page
// can prove who its logged-in user is (Parley.identify).
func UserHash(secret, userID string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(userID))
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyUserHash reports whether hash is UserHash(secret, userID), in
// constant time. Hex of either case is accepted; an empty secret verifies
// nothing.
func VerifyUserHash(secret, userID, hash string) bool {
	if secret == "" || len(hash) != 2*sha256.Size {
		return false
	}
	got, err := hex.DecodeString(hash)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(userID))
	return hmac.Equal(got, m.Sum(nil))
}
