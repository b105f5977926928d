package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-chat/parley/server"
)

// TestConfig_Sentiment reads the site switch for sentiment scoring: on by
// default, off with "sentiment": false, and a value that is no yes or no
// refused with its place.
func TestConfig_Sentiment(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sites.json")
	os.WriteFile(path, []byte(`{"sites":[
  {"id":"plain","origins":["https://a.example"],"story":"builtin:demo"},
  {"id":"on","origins":["https://b.example"],"story":"builtin:demo","sentiment":true},
  {"id":"off","origins":["https://c.example"],"story":"builtin:demo","sentiment":false}
]}`), 0o600)
	sc, ps := server.LoadConfig(path)
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	off := map[string]bool{}
	for _, s := range sc.Sites {
		off[s.ID] = s.SentimentOff
	}
	if off["plain"] || off["on"] || !off["off"] {
		t.Errorf("sentiment off by site: %v, want only \"off\"", off)
	}

	os.WriteFile(path, []byte(`{"sites":[{"id":"bad","origins":["https://a.example"],"story":"builtin:demo","sentiment":"no"}]}`), 0o600)
	if _, ps := server.LoadConfig(path); ps.Err() == nil || !strings.Contains(ps.Err().Error(), "sentiment") {
		t.Errorf(`"sentiment": "no": %v, want a problem naming sentiment`, ps.Err())
	}
}
