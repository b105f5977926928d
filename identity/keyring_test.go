package identity

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

const (
	testSite  = "acme"
	testID    = "01HQ3Z8Y4K6V2N9D5XW7TBCJMR"
	otherID   = "01HQ3Z8Y4K6V2N9D5XW7TBCJMS"
	otherSite = "globex"
)

// testSecret returns a fixed 32-byte secret, different for each b.
func testSecret(b byte) []byte {
	return bytes.Repeat([]byte{b}, 32)
}

// MustKeyring returns a keyring whose current key is the first of kids; key
// "kN" of kids has secret testSecret(N's first byte).
func MustKeyring(tb testing.TB, kids ...string) *Keyring {
	tb.Helper()
	keys := make(map[string][]byte, len(kids))
	for _, kid := range kids {
		keys[kid] = testSecret(kid[len(kid)-1])
	}
	k, err := NewKeyring(kids[0], keys)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestKeyring_SignVerify(t *testing.T) {
	k := MustKeyring(t, "k1")
	token := k.Sign(testSite, testID)

	t.Run("RoundTrip", func(t *testing.T) {
		got, ok := k.Verify(testSite, token)
		if !ok {
			t.Fatalf("Verify(%q) failed", token)
		}
		if want := testID; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})

	t.Run("Format", func(t *testing.T) {
		parts := strings.Split(token, ".")
		if got, want := len(parts), 4; got != want {
			t.Fatalf("token %q has %d parts, want %d", token, got, want)
		}
		if got, want := parts[0]+"."+parts[1]+"."+parts[2], "v1.k1."+testID; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
		if got, want := len(parts[3]), 43; got != want {
			t.Errorf("signature length = %d, want %d", got, want)
		}
	})

	t.Run("Deterministic", func(t *testing.T) {
		if got, want := k.Sign(testSite, testID), token; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		done := make(chan bool)
		for range 8 {
			go func() {
				_, ok := k.Verify(testSite, k.Sign(testSite, NewVisitorID()))
				done <- ok
			}()
		}
		for range 8 {
			if !<-done {
				t.Error("Verify failed")
			}
		}
	})
}

func TestKeyring_Verify_Rejects(t *testing.T) {
	k := MustKeyring(t, "k1")
	token := k.Sign(testSite, testID)
	sig := token[strings.LastIndexByte(token, '.')+1:]
	// flip changes one character of s at i to another base64url character.
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}

	for _, tt := range []struct {
		name  string
		site  string
		token string
	}{
		{"Empty", testSite, ""},
		{"Garbage", testSite, "not a token"},
		{"Dots", testSite, "..."},
		{"TamperedSignatureFirst", testSite, flip(token, len(token)-len(sig))},
		{"TamperedSignatureLast", testSite, flip(token, len(token)-1)},
		{"TamperedVisitor", testSite, "v1.k1." + otherID + "." + sig},
		{"TruncatedSignature", testSite, token[:len(token)-1]},
		{"NoSignature", testSite, "v1.k1." + testID},
		{"EmptySignature", testSite, "v1.k1." + testID + "."},
		{"TruncatedHalf", testSite, token[:len(token)/2]},
		{"OtherSite", otherSite, token},
		{"EmptySite", "", token},
		{"UnknownKID", testSite, "v2.k2." + testID + "." + sig},
		{"OtherKIDSameSignature", testSite, "v1.k9." + testID + "." + sig},
		{"OtherVersion", testSite, "v2" + token[2:]},
		{"NoVersion", testSite, token[3:]},
		{"ExtraDotEnd", testSite, token + "."},
		{"ExtraPartEnd", testSite, token + ".x"},
		{"ExtraDotStart", testSite, "." + token},
		{"ExtraDotInKID", testSite, "v1.k.1." + testID + "." + sig},
		{"ExtraDotInSignature", testSite, token[:len(token)-5] + "." + token[len(token)-5:]},
		{"LowerCaseVisitor", testSite, k.Sign(testSite, strings.ToLower(testID))},
		{"NonULIDVisitor", testSite, k.Sign(testSite, "bob")},
		{"EmptyVisitor", testSite, k.Sign(testSite, "")},
		{"PaddedSignature", testSite, token + "="},
		{"StdBase64", testSite, strings.NewReplacer("-", "+", "_", "/").Replace(token) + "+"},
		{"Spaces", testSite, " " + token},
		{"Huge", testSite, token + strings.Repeat("A", 1<<20)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if id, ok := k.Verify(tt.site, tt.token); ok || id != "" {
				t.Fatalf("Verify(%q, %.80q) = %q, %v; want \"\", false", tt.site, tt.token, id, ok)
			}
		})
	}

	t.Run("NilKeyring", func(t *testing.T) {
		var nk *Keyring
		if _, ok := nk.Verify(testSite, token); ok {
			t.Fatal("nil keyring verified a token")
		}
	})

	t.Run("OtherSecret", func(t *testing.T) {
		// Same key ID, different secret: a forger who guessed the kid.
		forger, err := NewKeyring("k1", map[string][]byte{"k1": testSecret('x')})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := k.Verify(testSite, forger.Sign(testSite, testID)); ok {
			t.Fatal("token signed with another secret verified")
		}
	})
}

func TestKeyring_Rotation(t *testing.T) {
	old := MustKeyring(t, "k1")
	token := old.Sign(testSite, testID)

	t.Run("OldKeyKept", func(t *testing.T) {
		rotated := MustKeyring(t, "k2", "k1")
		got, ok := rotated.Verify(testSite, token)
		if !ok {
			t.Fatal("token signed with old key rejected")
		}
		if want := testID; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		// New tokens are signed with the new key.
		if got, want := rotated.Sign(testSite, testID), "v1.k2."+testID+"."; !strings.HasPrefix(got, want) {
			t.Fatalf("got %q, want prefix %q", got, want)
		}
		if _, ok := old.Verify(testSite, rotated.Sign(testSite, testID)); ok {
			t.Fatal("keyring without k2 verified a k2 token")
		}
	})

	t.Run("OldKeyDropped", func(t *testing.T) {
		dropped := MustKeyring(t, "k2")
		if _, ok := dropped.Verify(testSite, token); ok {
			t.Fatal("token signed with dropped key verified")
		}
	})
}

func TestNewKeyring(t *testing.T) {
	good := testSecret('a')
	for _, tt := range []struct {
		name    string
		current string
		keys    map[string][]byte
		wantErr bool
	}{
		{"OK", "k1", map[string][]byte{"k1": good}, false},
		{"OKTwo", "k2", map[string][]byte{"k1": good, "k2": testSecret('b')}, false},
		{"OKLongSecret", "k1", map[string][]byte{"k1": bytes.Repeat(good, 4)}, false},
		{"OKKIDChars", "Key_2024-01", map[string][]byte{"Key_2024-01": good}, false},
		{"CurrentMissing", "k2", map[string][]byte{"k1": good}, true},
		{"NoKeys", "k1", nil, true},
		{"EmptyKID", "", map[string][]byte{"": good}, true},
		{"DotInKID", "k.1", map[string][]byte{"k.1": good}, true},
		{"DotInOtherKID", "k1", map[string][]byte{"k1": good, "k.2": good}, true},
		{"SpaceInKID", "k 1", map[string][]byte{"k 1": good}, true},
		{"PipeInKID", "k|1", map[string][]byte{"k|1": good}, true},
		{"LongKID", strings.Repeat("k", 65), map[string][]byte{strings.Repeat("k", 65): good}, true},
		{"ShortSecret", "k1", map[string][]byte{"k1": good[:31]}, true},
		{"ShortOtherSecret", "k1", map[string][]byte{"k1": good, "k2": good[:31]}, true},
		{"EmptySecret", "k1", map[string][]byte{"k1": nil}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewKeyring(tt.current, tt.keys)
			if got, want := err != nil, tt.wantErr; got != want {
				t.Fatalf("err = %v, want error: %v", err, want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "identity: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}

	t.Run("CopiesSecret", func(t *testing.T) {
		secret := testSecret('a')
		k, err := NewKeyring("k1", map[string][]byte{"k1": secret})
		if err != nil {
			t.Fatal(err)
		}
		token := k.Sign(testSite, testID)
		secret[0] ^= 0xff
		if _, ok := k.Verify(testSite, token); !ok {
			t.Fatal("changing the caller's secret changed the keyring")
		}
	})
}

func TestLoadOrCreateKeyring(t *testing.T) {
	t.Run("ConcurrentFirstStarts", func(t *testing.T) {
		// Several nodes starting at once on one shared volume: one key,
		// which every node signs with.
		dir := t.TempDir()
		const nodes = 8
		tokens := make([]string, nodes)
		var wg sync.WaitGroup
		for i := range nodes {
			wg.Go(func() {
				k, err := LoadOrCreateKeyring(dir)
				if err != nil {
					t.Error(err)
					return
				}
				tokens[i] = k.Sign(testSite, testID)
			})
		}
		wg.Wait()
		for i, tok := range tokens {
			if tok != tokens[0] {
				t.Fatalf("node %d signs %q, node 0 %q: two keys were made", i, tok, tokens[0])
			}
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".visitor.key.tmp-*")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
	t.Run("CreateThenLoad", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data", "keys")
		k1, err := LoadOrCreateKeyring(dir)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "visitor.key")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" {
			if got, want := fi.Mode().Perm(), fs.FileMode(0o600); got != want {
				t.Errorf("mode = %v, want %v", got, want)
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(data), "k1 "; !strings.HasPrefix(got, want) || len(got) != len("k1 ")+64+1 {
			t.Errorf("key file = %q, want \"k1 <64 hex digits>\\n\"", got)
		}
		// No temporary files left behind.
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(entries), 1; got != want {
			t.Errorf("dir holds %d entries, want %d", got, want)
		}

		k2, err := LoadOrCreateKeyring(dir)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := k2.Verify(testSite, k1.Sign(testSite, testID))
		if !ok || got != testID {
			t.Fatalf("second keyring: Verify = %q, %v; want %q, true", got, ok, testID)
		}
		if _, ok := k1.Verify(testSite, k2.Sign(testSite, testID)); !ok {
			t.Fatal("first keyring rejected second keyring's token")
		}
	})

	t.Run("DistinctDirs", func(t *testing.T) {
		a, err := LoadOrCreateKeyring(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		b, err := LoadOrCreateKeyring(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := b.Verify(testSite, a.Sign(testSite, testID)); ok {
			t.Fatal("two generated keys are the same")
		}
	})

	t.Run("RotatedFile", func(t *testing.T) {
		dir := t.TempDir()
		old := MustKeyring(t, "k1")
		file := "# rotated 2024-06-01\n" +
			"k2 " + strings.Repeat("32", 32) + "\r\n" +
			"\n" +
			"  k1   " + strings.Repeat("31", 32) + "  \n"
		writeKeyFile(t, dir, file)
		k, err := LoadOrCreateKeyring(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := k.Verify(testSite, old.Sign(testSite, testID)); !ok {
			t.Error("old key k1 no longer verifies")
		}
		if got, want := k.Sign(testSite, testID), MustKeyring(t, "k2").Sign(testSite, testID); got != want {
			t.Errorf("got %q, want %q (signed with k2)", got, want)
		}
	})

	for _, tt := range []struct {
		name string
		file string
	}{
		{"Empty", ""},
		{"OnlyComments", "# nothing\n\n"},
		{"NoSecret", "k1\n"},
		{"ThreeFields", "k1 " + strings.Repeat("ab", 32) + " extra\n"},
		{"NotHex", "k1 " + strings.Repeat("zz", 32) + "\n"},
		{"OddHex", "k1 " + strings.Repeat("ab", 32) + "a\n"},
		{"ShortSecret", "k1 " + strings.Repeat("ab", 31) + "\n"},
		{"DotInKID", "k.1 " + strings.Repeat("ab", 32) + "\n"},
		{"DuplicateKID", "k1 " + strings.Repeat("ab", 32) + "\nk1 " + strings.Repeat("cd", 32) + "\n"},
		{"Binary", "\x00\xff\xfe"},
	} {
		t.Run("Corrupt/"+tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeKeyFile(t, dir, tt.file)
			k, err := LoadOrCreateKeyring(dir)
			if err == nil {
				t.Fatalf("got keyring %v, want error", k)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			// A corrupt file is never replaced by a fresh key.
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(data), tt.file; got != want {
				t.Errorf("key file rewritten: got %q, want %q", got, want)
			}
		})
	}

	t.Run("SecretNotInError", func(t *testing.T) {
		dir := t.TempDir()
		secret := strings.Repeat("ab", 31) + "zz"
		writeKeyFile(t, dir, "k1 "+secret+"\n")
		_, err := LoadOrCreateKeyring(dir)
		if err == nil {
			t.Fatal("want error")
		}
		if strings.Contains(err.Error(), "zz") || strings.Contains(err.Error(), "abab") {
			t.Errorf("error %q leaks the secret", err)
		}
	})

	t.Run("DirIsFile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateKeyring(path); err == nil {
			t.Fatal("want error")
		}
	})
}

func TestKeyring_NoSecretsInFormat(t *testing.T) {
	k := MustKeyring(t, "k1")
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		s := fmt.Sprintf(verb, k)
		if strings.Contains(s, "1111") || strings.Contains(s, "49 49") || strings.Contains(s, "0x31") {
			t.Errorf("%s of keyring %q shows the secret", verb, s)
		}
	}
}

// writeKeyFile writes a key file with content s into dir and returns its path.
func writeKeyFile(tb testing.TB, dir, s string) string {
	tb.Helper()
	path := filepath.Join(dir, "visitor.key")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func BenchmarkVerify(b *testing.B) {
	k := MustKeyring(b, "k2", "k1")
	token := k.Sign(testSite, testID)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := k.Verify(testSite, token); !ok {
			b.Fatal("Verify failed")
		}
	}
}

func FuzzVerify(f *testing.F) {
	k := MustKeyring(f, "k1")
	token := k.Sign(testSite, testID)
	for _, seed := range []struct{ site, token string }{
		{testSite, token},
		{otherSite, token},
		{testSite, k.Sign(testSite, NewVisitorID())},
		{"", k.Sign("", testID)},
		{testSite, ""},
		{testSite, "garbage"},
		{testSite, "v1..."},
		{testSite, "v1.k1." + testID + "."},
		{testSite, token[:len(token)-1]},
		{testSite, token + "."},
		{testSite, token + ".extra"},
		{testSite, "v1.k2" + token[5:]},
		{testSite, k.Sign(testSite, strings.ToLower(testID))},
		{testSite, k.Sign(testSite, "bob")},
		{"a|b", k.Sign("a", "b|"+testID)},
	} {
		f.Add(seed.site, seed.token)
	}
	f.Fuzz(func(t *testing.T, site, token string) {
		id, ok := k.Verify(site, token)
		if !ok {
			if id != "" {
				t.Fatalf("Verify rejected %q but returned ID %q", token, id)
			}
			return
		}
		if !ValidVisitorID(id) {
			t.Fatalf("Verify(%q, %q) accepted invalid visitor ID %q", site, token, id)
		}
		if got, want := token, k.Sign(site, id); got != want {
			t.Fatalf("verified token %q != Sign(%q, %q) = %q", got, site, id, want)
		}
	})
}
