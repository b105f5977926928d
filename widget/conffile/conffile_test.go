package conffile_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/parley-chat/parley/widget/conffile"
)

type site struct {
	ID      string   `json:"id"`
	Origins []string `json:"origins"`
	Days    *int     `json:"retentionDays"`
	Max     int64    `json:"maxBytes"`
	Free    bool     `json:"free"`
}

func TestDecode(t *testing.T) {
	src := "{\"id\": \"acme\",\n \"orgins\": [\"https://a.example\"],\n \"retentionDays\": \"30\", \"maxBytes\": 1.5, \"free\": \"yes\", \"id\": \"x\"}"
	doc, ps := conffile.Parse("c.json", []byte(src))
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	var s site
	got := doc.Decode(doc.Root, &s, "site acme").Strings()
	want := []string{
		`c.json:2:2: site acme: unknown field "orgins" (did you mean "origins"?)`,
		`c.json:3:19: site acme: retentionDays: want a number, got "30"`,
		`c.json:3:37: site acme: maxBytes: want a whole number, got 1.5`,
		`c.json:3:50: site acme: free: want true or false, got "yes"`,
		`c.json:3:57: site acme: "id" is given twice`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s.ID != "acme" {
		t.Errorf("the good fields were not decoded: %+v", s)
	}
}

func TestNearest(t *testing.T) {
	for _, tt := range []struct{ name, want string }{
		{"orgins", "origins"}, {"Origins", "origins"}, {"retentiondays", "retentionDays"}, {"colour", ""}, {"id", ""},
	} {
		if got := conffile.Nearest(tt.name, []string{"id", "origins", "retentionDays", "story"}); got != tt.want {
			t.Errorf("Nearest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// FuzzParse checks that Parse never panics, accepts exactly what
// encoding/json accepts, places every problem inside the file, and that
// Decode never panics on what it parsed.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":"a","origins":["x"],"retentionDays":3}`))
	f.Add([]byte("{\n \"a\": 1,\n}"))
	f.Add([]byte(`[1, {"b": [true, null, "\u00e9"]}]`))
	f.Add([]byte(`{"id": 1e400}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, ps := conffile.Parse("f.json", b)
		valid := json.Valid(b)
		if len(ps) == 1 && strings.Contains(ps[0].Msg, "nested too deeply") {
			return // deeper than Parley's files go; encoding/json allows more
		}
		if valid != (doc != nil) || (doc == nil) != (len(ps) == 1) {
			t.Fatalf("json.Valid %v, doc %v, problems %v", valid, doc != nil, ps)
		}
		for _, p := range ps {
			if p.Line < 1 || p.Col < 1 || p.Line > strings.Count(string(b), "\n")+1 {
				t.Fatalf("problem outside the file: %v", p)
			}
		}
		if doc != nil {
			var s site
			doc.Decode(doc.Root, &s, "")
		}
	})
}
