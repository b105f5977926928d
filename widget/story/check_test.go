package story_test

import (
	"os"
	"strings"
	"testing"

	"github.com/parley-chat/parley/widget/story"
)

// TestCheck_Problems checks that a story's problems are all reported at
// once, each at its line and column, with the name probably meant.
func TestCheck_Problems(t *testing.T) {
	tests := []struct {
		name, src string
		errors    []string // each a line of the report, in order
		warnings  []string
	}{
		{"Syntax", "{\n  \"bot\": \"b\",\n  \"version\": \"1\",\n}", []string{
			`s.json:4:1: JSON syntax: invalid character '}' looking for beginning of object key string (a comma before a closing bracket is not allowed in JSON)`}, nil},
		{"Truncated", "{\"bot\": \"b\",\n \"blocks\": [", []string{`s.json:2:13: JSON syntax: the file ends before its value does`}, nil},
		{"Everything", `{"bot": "b", "version": 1, "start": "welcom", "fallback": "end",
 "blocks": [
  {"id": "welcome", "kind": "mesage", "txt": "Hi {{nme}}", "next": "ask"},
  {"id": "ask", "kind": "input", "input": "emial", "variable": "name", "next": "ned"},
  {"id": "end", "kind": "end", "text": "Bye {{name}}"},
  {"id": "up", "kind": "upload", "accept": ["images", "pdf", "image/*"], "maxBytes": "10MB", "next": "end"}
 ]}`, []string{
			`s.json:1:25: version: want text in quotes, got 1`,
			`s.json:1:37: start "welcom": no such block (did you mean "welcome"?)`,
			`s.json:3:29: block "welcome": unknown kind "mesage" (did you mean "message"?)`,
			`s.json:3:39: block "welcome": unknown field "txt" (did you mean "text"?)`,
			`s.json:4:43: block "ask": input kind "emial": want text, email or phone (did you mean "email"?)`,
			`s.json:4:80: block "ask": next "ned": no such block (did you mean "end"?)`,
			`s.json:6:86: block "up": maxBytes: want a number, got "10MB"`,
		}, []string{
			`s.json:6:45: warning: block "up": accept "images": matches no file: want a MIME type (application/pdf), a wildcard (image/*) or an extension (.pdf) (did you mean "image/*"?)`,
			`s.json:6:55: warning: block "up": accept "pdf": matches no file`,
		}},
		{"Unreachable", `{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[
{"id":"a","kind":"end","text":"Bye"},
{"id":"lost","kind":"message","text":"Nobody sees me","next":"a"}]}`, nil, []string{
			`s.json:3:7: warning: block "lost": unreachable: neither start nor fallback leads here`}},
		{"UnknownVariable", `{"bot":"b","version":"1","start":"ask","fallback":"ask","blocks":[
{"id":"ask","kind":"input","input":"text","variable":"name","text":"Name?","next":"hi"},
{"id":"hi","kind":"end","text":"Hi {{nme}}, {{ name }}"}]}`, nil, []string{
			`s.json:3:36: warning: block "hi": text: no input or upload block sets {{nme}}, so it shows as empty text (did you mean "name"?)`}},
		{"Type", `{"bot":"b","version":"1","type":"Lead Gen","start":"a","fallback":"a","blocks":[
{"id":"a","kind":"end","text":"Bye"}]}`, []string{
			`s.json:1:33: type "Lead Gen": want a short lower-case word like lead or support`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, ps := story.Check("s.json", []byte(tt.src))
			if (st == nil) != (len(tt.errors) > 0) {
				t.Errorf("story %v with errors %v", st != nil, ps.Errors())
			}
			match(t, "error", ps.Errors().Strings(), tt.errors)
			match(t, "warning", ps.Warnings().Strings(), tt.warnings)
		})
	}
}

// match checks that got has one line starting with each of want, in order,
// and nothing more.
func match(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d %ss, want %d:\n%s", len(got), what, len(want), strings.Join(got, "\n"))
		return
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("%s %d:\n got %s\nwant %s", what, i, got[i], want[i])
		}
	}
}

// TestDemo_NoProblems keeps the built-in demo story free of warnings too.
func TestDemo_NoProblems(t *testing.T) {
	b, err := os.ReadFile("demo.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, ps := story.Check("demo.json", b); len(ps) > 0 {
		t.Errorf("the demo story has problems:\n%s", strings.Join(ps.Strings(), "\n"))
	}
}
