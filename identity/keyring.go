package identity

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const (
	// tokenVersion prefixes every token, so the format can change later
	// without old tokens being misread.
	tokenVersion = "v1"

	// minKeySize is the shortest secret NewKeyring accepts, in bytes.
	minKeySize = 32

	// maxKIDLen bounds a key ID, and with it the length of a valid token.
	maxKIDLen = 64

	// maxTokenLen is longer than any token Sign can produce
	// ("v1." + kid + "." + ULID + "." + 43-char MAC); Verify rejects longer
	// input before doing any work.
	maxTokenLen = len(tokenVersion) + 1 + maxKIDLen + 1 + 26 + 1 + 43

	// keyFileName is the key file LoadOrCreateKeyring reads in its directory.
	keyFileName = "visitor.key"
)

// Keyring holds HMAC-SHA256 keys by key ID. One key is current and signs new
// tokens; every key verifies, so keys can rotate without invalidating the
// tokens visitors already hold. A Keyring is immutable and safe for
// concurrent use.
type Keyring struct {
	current string
	// keys maps a key ID to a constructor of that key's HMAC. Holding the
	// secret only inside a closure keeps it out of fmt's %v and %#v output.
	keys map[string]func() hash.Hash
}

// NewKeyring builds a keyring from keys, which maps a key ID to its secret;
// current names the key that signs. A key ID must be 1 to 64 characters from
// the base64url alphabet (A-Z a-z 0-9 - _), so tokens stay safe in cookies
// and headers and never contain an extra '.'. Every secret must be at least
// 32 bytes. It returns an error if current is not in keys, or if a key ID or
// secret is invalid. The secrets are copied.
func NewKeyring(current string, keys map[string][]byte) (*Keyring, error) {
	k, err := newKeyring(current, keys)
	if err != nil {
		return nil, fmt.Errorf("identity: new keyring: %w", err)
	}
	return k, nil
}

// newKeyring is NewKeyring with errors its callers wrap.
func newKeyring(current string, keys map[string][]byte) (*Keyring, error) {
	if _, ok := keys[current]; !ok {
		return nil, fmt.Errorf("current key %q not found", current)
	}
	k := &Keyring{current: current, keys: make(map[string]func() hash.Hash, len(keys))}
	for kid, secret := range keys {
		if err := validKID(kid); err != nil {
			return nil, err
		}
		if len(secret) < minKeySize {
			return nil, fmt.Errorf("key %q: secret is %d bytes, need at least %d", kid, len(secret), minKeySize)
		}
		secret := bytes.Clone(secret)
		k.keys[kid] = func() hash.Hash { return hmac.New(sha256.New, secret) }
	}
	return k, nil
}

// validKID reports why kid cannot name a key, or nil if it can.
func validKID(kid string) error {
	if kid == "" {
		return errors.New("empty key ID")
	}
	if len(kid) > maxKIDLen {
		return fmt.Errorf("key ID %.16q...: longer than %d characters", kid, maxKIDLen)
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("key ID %q: invalid character %q (want A-Z a-z 0-9 - _)", kid, c)
		}
	}
	return nil
}

// LoadOrCreateKeyring reads the key file dir/visitor.key, creating dir if
// it is missing. If the file does not exist, it generates a random 32-byte
// secret with key ID "k1", writes it with mode 0600 (to a temporary file,
// then renamed into place, so a crash never leaves half a key) and returns
// it.
//
// The file holds one key per line, "kid hex-secret"; the first key is
// current. Blank lines and lines starting with '#' are ignored. It returns
// an error naming the file if the file cannot be read or parsed.
func LoadOrCreateKeyring(dir string) (*Keyring, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("identity: load keyring: %w", err)
	}
	path := filepath.Join(dir, keyFileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKeyring(dir, path)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: load keyring: %w", err)
	}
	k, err := parseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("identity: load keyring %s: %w", path, err)
	}
	return k, nil
}

// parseKeyFile parses the "kid hex-secret" lines of a key file.
func parseKeyFile(data []byte) (*Keyring, error) {
	var current string
	keys := make(map[string][]byte)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("line %d: want \"kid hex-secret\"", n)
		}
		kid := fields[0]
		if _, dup := keys[kid]; dup {
			return nil, fmt.Errorf("line %d: duplicate key ID %q", n, kid)
		}
		secret, err := hex.DecodeString(fields[1])
		if err != nil {
			// Not %w: the hex error quotes the offending byte of the secret.
			return nil, fmt.Errorf("line %d: key %q: secret is not hex", n, kid)
		}
		if current == "" {
			current = kid
		}
		keys[kid] = secret
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if current == "" {
		return nil, errors.New("no keys")
	}
	return newKeyring(current, keys)
}

// createKeyring generates a one-key keyring and writes it to path.
func createKeyring(dir, path string) (*Keyring, error) {
	const kid = "k1"
	secret := make([]byte, minKeySize)
	rand.Read(secret) // never fails
	k, err := newKeyring(kid, map[string][]byte{kid: secret})
	if err != nil {
		return nil, fmt.Errorf("identity: create keyring: %w", err)
	}
	data := []byte(kid + " " + hex.EncodeToString(secret) + "\n")
	err = writeFileOnce(dir, path, data)
	if errors.Is(err, fs.ErrExist) {
		// Another process (a second node on the same volume, started at the
		// same moment) made it first: every node signs with that one.
		return LoadOrCreateKeyring(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: create keyring %s: %w", path, err)
	}
	return k, nil
}

// writeFileOnce writes data to a 0600 temporary file in dir, syncs it and
// links it to path, unless path exists (fs.ErrExist), so readers see
// either no file or the whole file, and of two writers only one wins.
func writeFileOnce(dir, path string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+keyFileName+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp already uses 0600; say so explicitly in case that changes.
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	err = os.Link(tmp, path)
	os.Remove(tmp)
	if err != nil {
		return err
	}
	// Make the rename itself durable. Best effort: some systems cannot sync
	// a directory, and the key is already safely written.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Sign returns a token binding visitorID to site, signed with the current
// key:
//
//	v1.<kid>.<visitorID>.<base64url-nopad(HMAC-SHA256(key, "v1|"+kid+"|"+site+"|"+visitorID))>
//
// Verify accepts only tokens whose visitorID is a valid ULID, so callers
// should pass IDs from NewVisitorID.
func (k *Keyring) Sign(site, visitorID string) string {
	mac := tokenMAC(k.keys[k.current], k.current, site, visitorID)
	return tokenVersion + "." + k.current + "." + visitorID + "." + mac
}

// Verify returns the visitor ID in token if the token is well formed, names
// a valid ULID, and is signed by a key in k for this site. Otherwise —
// forged, tampered, truncated, empty, for another site, signed by an unknown
// key — it returns ("", false). It runs in time independent of how much of
// the signature matches, and never panics.
func (k *Keyring) Verify(site, token string) (visitorID string, ok bool) {
	if k == nil || len(token) > maxTokenLen {
		return "", false
	}
	rest, ok := strings.CutPrefix(token, tokenVersion+".")
	if !ok {
		return "", false
	}
	kid, rest, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	id, sig, ok := strings.Cut(rest, ".")
	if !ok || !ValidVisitorID(id) {
		return "", false
	}
	newHash, ok := k.keys[kid]
	if !ok {
		return "", false
	}
	// Compare the encoded MAC, not decoded bytes: base64 decoding tolerates
	// variant spellings of the last character, and a token must have
	// exactly one valid spelling. An extra '.' in sig simply fails here.
	want := tokenMAC(newHash, kid, site, id)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return "", false
	}
	return id, true
}

// tokenMAC returns the base64url-encoded HMAC of the token payload.
func tokenMAC(newHash func() hash.Hash, kid, site, visitorID string) string {
	h := newHash()
	// The visitor ID has a fixed length and comes last, and the key ID
	// cannot contain '|', so the payload reads back one way only.
	h.Write([]byte(tokenVersion + "|" + kid + "|" + site + "|" + visitorID))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
