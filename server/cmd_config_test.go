package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCheck runs `parley config check` on broken configs: every
// problem is reported at once, at its file, line and column, with the
// site (and block) and the name probably meant; errors fail, warnings
// alone do not.
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bikes.json"), []byte(`{"bot":"bikes","version":"1","start":"hi","fallback":"hi","blocks":[
  {"id":"hi","kind":"message","text":"Hi {{nme}}","next":"ask"},
  {"id":"ask","kind":"input","input":"text","variable":"name","next":"photo"},
  {"id":"photo","kind":"upload","accept":["images"],"next":"bye"},
  {"id":"bye","kind":"end"},
  {"id":"old","kind":"end","text":"never"}]}`), 0o600)
	os.WriteFile(filepath.Join(dir, "broken.json"), []byte(`{"bot":"b","version":"1","start":"hi","fallback":"hi","blocks":[
  {"id":"hi","kind":"message","text":"Hi","next":"ned"},
  {"id":"end","kind":"end"}]}`), 0o600)
	tests := []struct {
		name, config string
		ok           bool
		want         []string // lines of the report, each after "DIR/"
	}{
		{"NearMisses", `{"sites": [
  {"id": "bikes", "orgins": ["https://bikes.example"], "retentionDays": "30"},
  {"id": "shop", "origins": ["shop.example"], "story": "broken.json", "sessionTimeout": 30}
]}`, false, []string{
			`C.json:2:19: site bikes: unknown field "orgins" (did you mean "origins"?)`,
			`C.json:2:73: site bikes: retentionDays: want a number, got "30"`,
			`C.json:3:30: site shop: origin "shop.example": want scheme://host[:port]`,
			`C.json:3:89: site shop: sessionTimeout: want text in quotes, got 30`,
			`broken.json:2:50: site shop: block "hi": next "ned": no such block (did you mean "end"?)`,
		}},
		{"Syntax", "{\"sites\": [\n  {\"id\": \"bikes\",}\n]}", false, []string{
			`C.json:2:18: JSON syntax: invalid character '}' looking for beginning of object key string (a comma before a closing bracket is not allowed in JSON)`,
		}},
		{"TopLevel", `{"site": []}`, false, []string{
			`C.json:1:1: no sites`,
			`C.json:1:2: unknown field "site" (did you mean "sites"?)`,
		}},
		{"WarningsOnly", `{"sites": [{"id": "bikes", "origins": ["https://bikes.example"], "story": "bikes.json", "freeUploadAccept": ["pdf"]}]}`, true, []string{
			`bikes.json:2:42: warning: site bikes: block "hi": text: no input or upload block sets {{nme}}, so it shows as empty text (did you mean "name"?)`,
			`bikes.json:4:43: warning: site bikes: block "photo": accept "images": matches no file: want a MIME type (application/pdf), a wildcard (image/*) or an extension (.pdf) (did you mean "image/*"?)`,
			`bikes.json:6:9: warning: site bikes: block "old": unreachable: neither start nor fallback leads here`,
			`C.json:1:110: warning: site bikes: freeUploadAccept "pdf": matches no file`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".json")
			os.WriteFile(path, []byte(tt.config), 0o600)
			code, out, errOut := parley(nil, "config", "check", path)
			if (code == 0) != tt.ok {
				t.Errorf("exit %d, want ok=%v: %s", code, tt.ok, errOut)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if tt.ok {
				if last := lines[len(lines)-1]; !strings.HasSuffix(last, "ok, 1 sites, 4 warnings") {
					t.Errorf("summary %q", last)
				}
				lines = lines[:len(lines)-1]
			} else if !strings.Contains(errOut, "errors") {
				t.Errorf("stderr %q lacks the count of errors", errOut)
			}
			if len(lines) != len(tt.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tt.want), out)
			}
			for i, w := range tt.want {
				w = dir + "/" + strings.Replace(w, "C.json", tt.name+".json", 1)
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], w)
				}
			}
		})
	}
	t.Run("ServeLogsWarnings", func(t *testing.T) {
		addr := freeAddr(t)
		stop, logs := runMain(t, []string{"--addr", addr, "--data", t.TempDir(), "--config", filepath.Join(dir, "WarningsOnly.json")}, map[string]string{"PARLEY_ADMIN_TOKEN": adminToken})
		waitHealthy(t, addr)
		stop()
		if !strings.Contains(logs.String(), `"level":"WARN","msg":"config: `+dir+`/bikes.json:4:43: warning: site bikes: block \"photo\": accept \"images\"`) {
			t.Errorf("the warnings are not logged at start:\n%s", logs)
		}
	})
	t.Run("ServeRefuses", func(t *testing.T) {
		code, _, errOut := parley(nil, "--data", t.TempDir(), "--config", filepath.Join(dir, "NearMisses.json"))
		if code == 0 || !strings.Contains(errOut, `unknown field "orgins" (did you mean "origins"?)`) || !strings.Contains(errOut, "broken.json:2:50") {
			t.Errorf("serve with a broken config: exit %d: %s", code, errOut)
		}
	})
}
