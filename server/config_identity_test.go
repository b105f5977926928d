package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-chat/parley/server"
)

func TestConfig_IdentitySecret(t *testing.T) {
	load := func(t *testing.T, secret string) (string, error) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "sites.json")
		body := `{"sites":[{"id":"acme","origins":["https://acme.example"],"story":"builtin:demo","identitySecret":` + secret + `}]}`
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		sc, ps := server.LoadConfig(path)
		if err := ps.Err(); err != nil {
			return "", err
		}
		return sc.Sites[0].IdentitySecret, nil
	}
	const long = "0123456789abcdef0123456789abcdef01"
	t.Run("Literal", func(t *testing.T) {
		if got, err := load(t, `"`+long+`"`); err != nil || got != long {
			t.Errorf("got %q %v", got, err)
		}
	})
	t.Run("Env", func(t *testing.T) {
		t.Setenv("ACME_IDENTITY_SECRET", long)
		if got, err := load(t, `"env:ACME_IDENTITY_SECRET"`); err != nil || got != long {
			t.Errorf("got %q %v", got, err)
		}
	})
	t.Run("EnvMissing", func(t *testing.T) {
		if _, err := load(t, `"env:PARLEY_TEST_NO_SUCH_VAR"`); err == nil || !strings.Contains(err.Error(), "not set") {
			t.Errorf("got %v, want the variable named as not set", err)
		}
	})
	t.Run("Short", func(t *testing.T) {
		if _, err := load(t, `"hunter2"`); err == nil || !strings.Contains(err.Error(), "at least 32") {
			t.Errorf("got %v, want a too-short secret refused", err)
		}
	})
	t.Run("Off", func(t *testing.T) {
		if got, err := load(t, `""`); err != nil || got != "" {
			t.Errorf("got %q %v", got, err)
		}
	})
}
