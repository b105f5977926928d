package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// minAdminToken is the fewest characters an admin token may have: a
// token has to resist guessing on its own, since the right one passes
// even from an address blocked for failed sign-ins. Generated tokens have
// 48 (24 random bytes, hex).
const minAdminToken = 32

// loadOrCreateAdminToken reads DataDir/admin.token, creating it (0600)
// with a random token on first start; created says it was made now.
func loadOrCreateAdminToken(dir string) (tok string, created bool, err error) {
	path := filepath.Join(dir, "admin.token")
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < minAdminToken {
			return "", false, fmt.Errorf("the admin token in %s has %d characters; it needs at least %d (delete the file to have a new one generated)", path, len(tok), minAdminToken)
		}
		return tok, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("read admin token: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", false, fmt.Errorf("create data dir: %w", err)
	}
	raw := make([]byte, 24)
	rand.Read(raw)
	tok = hex.EncodeToString(raw)
	// O_EXCL: of two processes starting at once, one makes the token.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	return tok, true, nil
}

// explainOpenError turns a failure to open the store into advice.
func explainOpenError(dir string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Cannot acquire directory lock"), strings.Contains(msg, "resource temporarily unavailable"):
		return fmt.Errorf("the data directory %s is in use by another Parley process (stop it, or pass another --data): %w", dir, err)
	case errors.Is(err, os.ErrPermission), strings.Contains(msg, "permission denied"):
		return fmt.Errorf("no permission to use the data directory %s (fix its owner or mode): %w", dir, err)
	case strings.Contains(msg, "no space left"):
		return fmt.Errorf("no space left for the data directory %s (free some disk space): %w", dir, err)
	}
	return fmt.Errorf("cannot open the store in %s (if it is corrupt, restore a backup with `parley restore`): %w", dir, err)
}
