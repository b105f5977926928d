package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers every delivery carries.
const (
	HeaderID        = "webhook-id"        // the event's ID, the same on every attempt: dedupe on it
	HeaderTimestamp = "webhook-timestamp" // Unix seconds of this attempt
	HeaderSignature = "webhook-signature" // "v1," + base64 HMAC-SHA256 of "id.timestamp.body"
)

// SecretPrefix starts every endpoint secret; base64 of the key follows.
const SecretPrefix = "whsec_"

// ParseSecret returns the HMAC key of a secret "whsec_" + base64 (standard
// encoding) of 24 to 64 random bytes.
func ParseSecret(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("webhook: secret: want %q followed by base64 of 24 to 64 random bytes, e.g. whsec_$(openssl rand -base64 32)", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("webhook: secret: the part after %q is not base64: %w", SecretPrefix, err)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("webhook: secret: %d bytes of key; want 24 to 64 (e.g. whsec_$(openssl rand -base64 32))", len(key))
	}
	return key, nil
}

// Sign returns the webhook-signature value of a delivery: "v1," and the
// base64 HMAC-SHA256, with key, of id, '.', the timestamp in Unix seconds,
// '.', and the body.
func Sign(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrNoSignature = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp   = errors.New("webhook: timestamp too old, too new or not a number")
	ErrSignature   = errors.New("webhook: no signature matches")
)

// Tolerance is how far a delivery's timestamp may be from the receiver's
// clock for Verify to accept it: replays of older deliveries are refused.
const Tolerance = 5 * time.Minute

// Verify checks a delivery as a receiver should: the three headers are
// there, the timestamp is within Tolerance of now, and one of the
// space-separated signatures in webhook-signature is the body's (compared
// in constant time). It returns ErrNoSignature, ErrTimestamp or
// ErrSignature.
func Verify(key []byte, h http.Header, body []byte, now time.Time) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrNoSignature
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || ts < 0 {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return ErrTimestamp
	}
	want := []byte(Sign(key, id, ts, body))
	for _, sig := range strings.Fields(sigs) {
		if hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrSignature
}
